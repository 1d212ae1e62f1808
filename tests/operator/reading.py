"""Reading DiagnosticReports back in the e2e tests, as a user would with kubectl get."""

from __future__ import annotations


def reports(sandbox) -> list[dict]:
    return sandbox.list("diagnosticreports", "default")


def report_now(sandbox, name: str) -> dict:
    return sandbox.get("diagnosticreports", "default", name)


def condition(obj: dict, type_: str) -> dict | None:
    """The condition `type_` in a report's or a policy's status, as `kubectl get -o yaml` shows it."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or () if c["type"] == type_), None)
