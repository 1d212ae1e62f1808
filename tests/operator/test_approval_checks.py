from smart_sre.api.diagnosticreport import ApprovalAction
from smart_sre.lifecycle.approval import (
    Apply,
    Refuse,
    Reject,
    already_applied,
    approved_by,
    guard_failure,
    judge,
)

SHA = "a" * 64
ROLLBACK_SHA = "b" * 64
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web", "uid": "u1"}
OPS = [
    {"op": "test", "path": "/spec/template/spec/containers/0/resources/requests/memory", "value": "64Gi"},
    {"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/memory", "value": "256Mi"},
]


def report(phase="AwaitingApproval", approval=None, *, patch=True, conditions=None):
    status = {"phase": phase, "conditions": conditions or []}
    if patch:
        status["suggestedPatch"] = {"target": TARGET, "operations": OPS, "sha256": SHA}
        status["rollbackPatch"] = {
            "operations": [{"op": "replace", "path": OPS[1]["path"], "value": "64Gi"}],
            "sha256": ROLLBACK_SHA,
        }
    else:
        status["noPatchReason"] = "the root cause is outside the workload"
    return {
        "metadata": {"name": "web-pending-0123456789", "namespace": "default"},
        "spec": {"approval": approval},
        "status": status,
    }


def test_no_decision_means_nothing_to_do():
    assert judge(report()) is None


def test_matching_sha_applies_the_suggested_patch():
    verdict = judge(report(approval={"decision": "Approved", "patchSHA256": SHA}))
    assert isinstance(verdict, Apply)
    assert verdict.operations == OPS
    assert verdict.target == TARGET


def test_wrong_sha_is_refused_with_both_digests_and_what_to_do():
    verdict = judge(report(approval={"decision": "Approved", "patchSHA256": "c" * 64}))
    assert isinstance(verdict, Refuse)
    assert verdict.reason == "PatchSHA256Mismatch"
    assert "c" * 64 in verdict.message
    assert SHA in verdict.message
    assert "kubectl sre show web-pending-0123456789" in verdict.message


def test_rejection_and_findings_only_reports():
    assert isinstance(judge(report(approval={"decision": "Rejected"})), Reject)
    approved = {"decision": "Approved", "patchSHA256": SHA}
    verdict = judge(report("FindingsOnly", approved, patch=False))
    assert isinstance(verdict, Refuse)
    assert verdict.reason == "NoPatch"
    assert "outside the workload" in verdict.message
    assert "no patch to approve" in verdict.message
    # A findings-only report is already closed: rejecting it is not an action.
    assert judge(report("FindingsOnly", {"decision": "Rejected"}, patch=False)) is None


def test_rollback_needs_an_applied_patch_and_its_own_sha():
    premature = judge(
        report(approval={"decision": "Approved", "action": "Rollback", "patchSHA256": ROLLBACK_SHA})
    )
    assert isinstance(premature, Refuse)
    applied = report("Applied", {"decision": "Approved", "action": "Rollback", "patchSHA256": ROLLBACK_SHA})
    verdict = judge(applied)
    assert isinstance(verdict, Apply)
    assert verdict.action is ApprovalAction.ROLLBACK
    wrong = report("Applied", {"decision": "Approved", "action": "Rollback", "patchSHA256": SHA})
    assert judge(wrong).reason == "PatchSHA256Mismatch"
    done = report(
        "Applied",
        {"decision": "Approved", "action": "Rollback", "patchSHA256": ROLLBACK_SHA},
        conditions=[{"type": "RolledBack", "status": "True"}],
    )
    assert judge(done) is None


def test_applied_and_closed_reports_are_not_acted_on_again():
    assert judge(report("Applied", {"decision": "Approved", "patchSHA256": SHA})) is None
    assert judge(report("Rejected", {"decision": "Approved", "patchSHA256": SHA})) is None
    assert judge(report("Stale", {"decision": "Approved", "patchSHA256": SHA})) is None


def deployment(memory):
    container = {"name": "app", "resources": {"requests": {"memory": memory}}}
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


def test_guard_detects_a_target_changed_since_the_analysis():
    assert guard_failure(deployment("64Gi"), OPS) is None
    assert "64Gi" in guard_failure(deployment("32Gi"), OPS)


def test_a_patch_already_on_the_target_is_recognised_after_a_restart():
    assert already_applied(deployment("256Mi"), OPS)
    assert not already_applied(deployment("64Gi"), OPS)


def test_approver_is_read_from_managed_fields():
    body = report()
    body["metadata"]["managedFields"] = [
        {"manager": "smart-sre-operator", "time": "2026-01-05T10:00:00Z", "fieldsV1": {"f:status": {}}},
        {
            "manager": "kubectl-patch",
            "time": "2026-01-05T10:05:00Z",
            "fieldsV1": {"f:spec": {"f:approval": {}}},
        },
    ]
    assert approved_by(body) == "kubectl-patch"
    assert approved_by(report()) is None
