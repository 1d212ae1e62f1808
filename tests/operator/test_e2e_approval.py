"""Approval with the real kubectl: the sha256 pin, apply and verify, rollback, rejection, a stale target,
a suggestion rewritten by someone other than the operator.

Each test lets the operator open the report for the seed's Pending case, then puts the report in
AwaitingApproval with a vetted patch while the operator is stopped (see seeding.py), and restarts it.
"""

from __future__ import annotations

import json

import pytest

from smart_sre.api.diagnosticreport import PatchOperation, PatchTarget, patch_sha256
from smart_sre_sandbox.authn import ADMIN

from . import scenario
from .reading import condition, report_now
from .seeding import MEMORY, admin_approval, open_and_seed

pytestmark = [
    pytest.mark.usefixtures("kubectl_plugin"),
    pytest.mark.e2e,
    pytest.mark.kubectl,
    pytest.mark.slow,
]


def memory_of(sandbox, deployment: str = "ledger") -> str:
    body = sandbox.get("deployments", "default", deployment)
    return body["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"]


@pytest.fixture
def awaiting(sandbox, operator_process) -> dict:
    """A report for the unschedulable `ledger` Deployment, AwaitingApproval with a vetted memory patch."""
    policy = scenario.policy(triggers=["Pending"], pendingGracePeriod="1s")
    report = open_and_seed(sandbox, operator_process, [policy, scenario.memory_hungry()])
    assert report["spec"]["trigger"] == "Pending"
    return report


def approve(sandbox, name: str, sha: str):
    return sandbox.kubectl("patch", "dr", name, "--type", "merge", "-p", json.dumps(admin_approval(sha)))


def test_wrong_sha_is_refused_then_approval_applies_verifies_and_rolls_back(sandbox, awaiting):
    name = awaiting["metadata"]["name"]
    sha = awaiting["status"]["suggestedPatch"]["sha256"]

    shown = sandbox.kubectl("sre", "show", name).stdout
    assert "InsufficientResources" in shown
    assert sha in shown
    assert "-            memory: 64Gi" in shown
    assert "+            memory: 256Mi" in shown

    approve(sandbox, name, "0" * 64)
    refused = sandbox.wait_for(
        lambda: (c := condition(report_now(sandbox, name), "ApprovalRefused")) and c["status"] == "True" and c
    )
    assert refused["reason"] == "PatchSHA256Mismatch"
    assert sha in refused["message"]
    assert report_now(sandbox, name)["status"]["phase"] == "AwaitingApproval"
    assert memory_of(sandbox) == "64Gi"

    approve(sandbox, name, sha)
    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Applied", timeout=30)
    assert memory_of(sandbox) == "256Mi"
    assert report_now(sandbox, name)["status"]["approvedBy"] == ADMIN.username  # spec.approval.approvedBy
    assert condition(report_now(sandbox, name), "PatchApplied")["status"] == "True"
    verified = sandbox.wait_for(lambda: report_now(sandbox, name)["status"].get("verification"), timeout=60)
    assert verified["result"] == "Verified", verified
    listed = sandbox.kubectl("get", "dr", name).stdout
    assert "Applied" in listed

    rolled = sandbox.kubectl("sre", "rollback", name, "--yes")
    assert "approved (rollback" in rolled.stdout
    sandbox.wait_for(
        lambda: (c := condition(report_now(sandbox, name), "RolledBack")) and c["status"] == "True",
        timeout=30,
    )
    assert memory_of(sandbox) == "64Gi"
    assert report_now(sandbox, name)["status"]["approvedBy"] == ADMIN.username
    shown = sandbox.kubectl("sre", "show", name).stdout
    assert f"  Approved by: {ADMIN.username} (authenticated by the API server)\n" in shown


def test_rejection_closes_the_report_and_changes_nothing(sandbox, awaiting):
    name = awaiting["metadata"]["name"]
    result = sandbox.kubectl("sre", "reject", name)
    assert "rejected" in result.stdout
    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Rejected")
    assert memory_of(sandbox) == "64Gi"
    assert report_now(sandbox, name)["status"]["approvedBy"] == ADMIN.username
    events = [e for e in sandbox.list("events", "default") if e["involvedObject"]["name"] == name]
    assert any(e["reason"] == "Rejected" for e in events)


def test_target_changed_since_the_analysis_makes_the_report_stale(sandbox, awaiting):
    name = awaiting["metadata"]["name"]
    someone_else = [{"op": "replace", "path": MEMORY, "value": "48Gi"}]
    sandbox.kubectl("patch", "deployment", "ledger", "--type", "json", "-p", json.dumps(someone_else))
    result = sandbox.kubectl("sre", "approve", name, "--yes")
    assert awaiting["status"]["suggestedPatch"]["sha256"] in result.stdout
    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Stale", timeout=30)
    assert memory_of(sandbox) == "48Gi"
    assert "changed since the analysis" in condition(report_now(sandbox, name), "PatchApplied")["message"]


def test_a_suggestion_rewritten_through_the_status_subresource_is_refused(sandbox, awaiting):
    name = awaiting["metadata"]["name"]
    target = awaiting["status"]["suggestedPatch"]["target"]
    # Someone who may write diagnosticreports/status swaps in their own change, with a correct sha256.
    operations = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil:latest"}]
    sha = patch_sha256(
        [PatchOperation.model_validate(operation) for operation in operations],
        PatchTarget.model_validate(target),
    )
    forged = {"status": {"suggestedPatch": {"operations": operations, "sha256": sha}}}
    sandbox.kubectl("patch", "dr", name, "--subresource=status", "--type=merge", "-p", json.dumps(forged))
    assert sha in sandbox.kubectl("sre", "show", name).stdout

    approve(sandbox, name, sha)
    refused = sandbox.wait_for(
        lambda: (c := condition(report_now(sandbox, name), "ApprovalRefused")) and c["status"] == "True" and c
    )
    assert refused["reason"] == "SuggestionTampered"
    assert "not the one smart-sre wrote" in refused["message"]
    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Failed")
    image = sandbox.get("deployments", "default", "ledger")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert image != "evil:latest"
    assert memory_of(sandbox) == "64Gi"
    events = [e for e in sandbox.list("events", "default") if e["involvedObject"]["name"] == name]
    assert any(e["reason"] == "SuggestionTampered" for e in events)
