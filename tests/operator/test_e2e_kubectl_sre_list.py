"""`kubectl sre list` through the real kubectl against the sandbox: seeded reports as a reviewer and a
script see them, and the exit codes kubectl passes on.

The reports are written as the operator and anyone with write access to their status would (kubectl
create, then a merge patch of the status subresource); no operator runs, so nothing moves them on.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from typing import Any

import pytest

pytestmark = [pytest.mark.usefixtures("kubectl_plugin"), pytest.mark.e2e, pytest.mark.kubectl]

SHA = "c0ffee" * 10 + "c0ff"
CLEAR = "\x1b[2J\x1b[H"


def _seed(sandbox, name: str, namespace: str = "default", **status: Any) -> None:
    body = {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DiagnosticReport",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "podRef": {"name": f"{name}-7d9f-x2x", "uid": "6c1e0b8e-3f5a-4d2b-9a51-2b8f1d9c0a11"},
            "workloadRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
                "uid": "0b7d4f2a-1c3e-4a5b-8d6f-7e8a9b0c1d2e",
            },
            "trigger": "Pending",
            "policyRef": {"name": "seed"},
        },
    }
    sandbox.kubectl("create", "-f", "-", input=json.dumps(body))
    if status:
        sandbox.kubectl(
            "patch", "dr", name, "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip


@pytest.fixture
def seeded(sandbox) -> None:
    """A closed report, one awaiting approval and one in another namespace, created in that order."""
    findings = {"summary": "64Gi fits no node.", "rootCause": "InsufficientResources", "confidence": "High"}
    _seed(sandbox, "billing", phase="Rejected", findings=findings, approvedBy=f"mallory{CLEAR}")
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "ledger"}
    operations = [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    suggested = {"target": target, "operations": operations, "sha256": SHA}
    _seed(sandbox, "ledger", phase="AwaitingApproval", findings=findings, suggestedPatch=suggested)
    sandbox.kubectl("create", "namespace", "payments")
    _seed(sandbox, "payments", namespace="payments")


def _rows(out: str) -> list[list[str]]:
    return [re.split(r" {3,}", line) for line in out.splitlines()]


def test_the_list_json_holds_each_report_as_the_api_server_returns_it(sandbox, seeded) -> None:
    listed = json.loads(sandbox.kubectl("sre", "list", "-o", "json").stdout)
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["ledger", "billing"]
    # managedFields included: kubectl get hides them by default, the plugin rewrites nothing
    stored = json.loads(sandbox.kubectl("get", "dr", "ledger", "-o", "json", "--show-managed-fields").stdout)
    assert listed["items"][0] == stored
    assert listed["items"][0]["status"]["suggestedPatch"]["sha256"] == SHA
    assert listed["items"][1]["status"]["approvedBy"] == f"mallory{CLEAR}"  # machine output: not rewritten

    shown = json.loads(sandbox.kubectl("sre", "show", "ledger", "-o", "json").stdout)
    assert shown == stored


def test_the_table_puts_the_pending_decision_first_and_escapes_the_rest(sandbox, seeded) -> None:
    header, *rows = _rows(sandbox.kubectl("sre", "list", "-o", "wide").stdout)
    assert header == [
        "NAME", "PHASE", "ROOT CAUSE", "CONFIDENCE", "TARGET", "AGE", "POD", "TRIGGER", "SHA256", "APPROVED BY",
    ]  # fmt: skip
    ledger, billing = rows
    assert ledger[:5] == ["ledger", "AwaitingApproval", "InsufficientResources", "High", "Deployment/ledger"]
    assert ledger[6:] == ["ledger-7d9f-x2x", "Pending", SHA[:12], "<none>"]
    assert (billing[1], billing[-1]) == ("Rejected", r"mallory\x1b[2J\x1b[H")

    everywhere = sandbox.kubectl("sre", "list", "-A").stdout
    assert "\x1b" not in everywhere
    header, *rows = _rows(everywhere)
    assert header[:3] == ["NAMESPACE", "NAME", "PHASE"]
    assert [row[:3] for row in rows] == [
        ["default", "ledger", "AwaitingApproval"],
        ["payments", "payments", "Pending"],
        ["default", "billing", "Rejected"],
    ]


def test_version_and_exit_codes_through_kubectl(sandbox, seeded) -> None:
    version = sandbox.kubectl("sre", "--version").stdout
    assert version == f"kubectl sre {importlib.metadata.version('smart-sre')}\n"

    missing = sandbox.kubectl("sre", "show", "no-such-report", "-o", "yaml", check=False)
    assert missing.returncode == 1
    assert 'diagnosticreport "no-such-report" not found in namespace "default"' in missing.stderr

    usage = sandbox.kubectl("sre", "list", "-A", "-n", "payments", check=False)
    assert usage.returncode == 2
    assert "not allowed with argument -A/--all-namespaces" in usage.stderr
