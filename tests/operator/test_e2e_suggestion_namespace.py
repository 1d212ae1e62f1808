"""A report's suggestion can only name a target in the report's own namespace, as the API server sees it.

deploy/base/approval-admission-policy.yaml carries the rule (a CRD validation rule cannot read
metadata.namespace); the operator re-checks it at apply. Here the real kubectl writes the status
subresource as someone with write access to reports would.
"""

from __future__ import annotations

import json

import pytest

from . import scenario

pytestmark = [pytest.mark.e2e, pytest.mark.kubectl]

POLICY = scenario.REPO / "deploy" / "base" / "approval-admission-policy.yaml"
REPORT = "payments-crashloopbackoff-0123456789"
OPERATIONS = [{"op": "replace", "path": "/spec/replicas", "value": 2}]


def _status(namespace: str) -> str:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace, "name": "payments"}
    patch = {"target": target, "operations": OPERATIONS, "sha256": "a" * 64}
    return json.dumps({"status": {"phase": "AwaitingApproval", "suggestedPatch": patch}})


@pytest.fixture
def report(sandbox) -> str:
    sandbox.kubectl("apply", "-f", str(POLICY))
    body = {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DiagnosticReport",
        "metadata": {"name": REPORT, "namespace": "default"},
        "spec": {
            "podRef": {"name": "payments-0", "uid": "6c1e0b8e-3f5a-4d2b-9a51-2b8f1d9c0a11"},
            "workloadRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "payments",
                "uid": "0b7d4f2a-1c3e-4a5b-8d6f-7e8a9b0c1d2e",
            },
            "trigger": "CrashLoopBackOff",
            "policyRef": {"name": "seed"},
        },
    }
    sandbox.kubectl("create", "-f", "-", input=json.dumps(body))
    return REPORT


def _patch_status(sandbox, name: str, body: str):
    return sandbox.kubectl(
        "patch", "dr", name, "--subresource=status", "--type=merge", "-p", body, check=False
    )


def test_a_suggestion_aimed_at_another_namespace_is_refused_by_the_api_server(sandbox, report) -> None:
    result = _patch_status(sandbox, report, _status("victim"))
    assert result.returncode != 0
    assert "ValidatingAdmissionPolicy 'smart-sre-suggestion-namespace'" in result.stderr
    assert 'must be the report\'s namespace, "default"' in result.stderr
    stored = json.loads(sandbox.kubectl("get", "dr", report, "-o", "json").stdout)
    assert "suggestedPatch" not in (stored.get("status") or {})


def test_a_suggestion_in_the_reports_namespace_is_admitted(sandbox, report) -> None:
    assert _patch_status(sandbox, report, _status("default")).returncode == 0
    stored = json.loads(sandbox.kubectl("get", "dr", report, "-o", "json").stdout)
    assert stored["status"]["suggestedPatch"]["target"]["namespace"] == "default"
