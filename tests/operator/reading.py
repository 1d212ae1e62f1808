"""Reading DiagnosticReports back in the e2e tests, as a user would with kubectl get."""

from __future__ import annotations

from smart_sre.lifecycle.reports import condition_of


def reports(sandbox) -> list[dict]:
    return sandbox.list("diagnosticreports", "default")


def report_now(sandbox, name: str) -> dict:
    return sandbox.get("diagnosticreports", "default", name)


def condition(report: dict, type_: str) -> dict | None:
    found = condition_of(report, type_)
    return dict(found) if found is not None else None
