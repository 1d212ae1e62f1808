"""What an approval asks for, judged from the report alone: the decision, the phase, the pinned sha256.

The reports are built as the API server returns them, with the suggestion published (sealed) by the
operator's key, as the analysis writes it. Refusals of suggestions nobody can trust are in
test_approval_trust.py; what happens when an approved patch is applied is in test_approval_apply.py.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from smart_sre.api.diagnosticreport import (
    ApprovalAction,
    ObservedReport,
    PatchOperation,
    PatchTarget,
    patch_sha256,
)
from smart_sre.lifecycle.approval import (
    Apply,
    Refuse,
    Reject,
    SealKey,
    Verdict,
    already_applied,
    approved_at,
    approved_by,
    guard_failure,
    judge,
)
from smart_sre.lifecycle.policies import ActivePolicy, PolicyBook

KEY = SealKey(b"the operator's own key, 32 bytes+")
SHOWN = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # when the analysis published the suggestion
APPROVED = "2026-01-05T10:05:00Z"  # when a human approved it
NAME = "web-pending-0123456789"
MEMORY = "/spec/template/spec/containers/0/resources/requests/memory"
TARGET = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "namespace": "default",
    "name": "web",
    "uid": "uid-web",
}
OPS = [
    {"op": "test", "path": MEMORY, "value": "64Gi"},
    {"op": "replace", "path": MEMORY, "value": "256Mi"},
]
ROLLBACK_OPS = [
    {"op": "test", "path": MEMORY, "value": "256Mi"},
    {"op": "replace", "path": MEMORY, "value": "64Gi"},
]


def _policy() -> ActivePolicy:
    book = PolicyBook()
    book.upsert(
        {"metadata": {"name": "seed", "generation": 1}, "spec": {"rules": [{"namespaces": ["default"]}]}}
    )
    policy = book.get("seed")
    assert policy is not None
    return policy


POLICY = _policy()


def digest(operations: list[dict[str, Any]], target: dict[str, Any] = TARGET) -> str:
    """What `kubectl sre show` prints and an approval pins: sha256 over the target and the operations."""
    return patch_sha256(
        [PatchOperation.model_validate(operation) for operation in operations],
        PatchTarget.model_validate(target),
    )


SHA = digest(OPS)
ROLLBACK_SHA = digest(ROLLBACK_OPS)


def sealed(body: dict[str, Any], *, key: SealKey = KEY) -> dict[str, Any]:
    """`body` with its suggestion published by the operator holding `key` at SHOWN."""
    report = ObservedReport.model_validate(body)
    status = key.publish(report, report.status, now=SHOWN)
    return {**body, "status": status.model_dump(mode="json", by_alias=True, exclude_none=True)}


def condition(type_: str, status: str = "True", reason: str = "Applied") -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": f"{type_} {reason}",
        "lastTransitionTime": "2026-01-05T10:06:00Z",
    }


def report(
    phase: str = "AwaitingApproval",
    approval: dict[str, Any] | None = None,
    *,
    approved: str | None = APPROVED,
    patch: bool = True,
    conditions: list[dict[str, str]] | None = None,
    namespace: str = "default",
    target: dict[str, Any] = TARGET,
) -> dict[str, Any]:
    """A report as the API server returns it; `approved` is when managedFields say spec.approval was written."""
    metadata: dict[str, Any] = {"name": NAME, "namespace": namespace, "uid": "uid-report"}
    if approval is not None and approved is not None:
        metadata["managedFields"] = [
            {
                "manager": "smart-sre-operator",
                "operation": "Update",
                "subresource": "status",
                "time": "2026-01-05T10:00:00Z",
                "fieldsV1": {"f:status": {}},
            },
            {
                "manager": "kubectl-patch",
                "operation": "Update",
                "time": approved,
                "fieldsV1": {"f:spec": {"f:approval": {}}},
            },
        ]
    spec: dict[str, Any] = {
        "podRef": {"name": "web-7d9c-abcde", "uid": "uid-web-7d9c-abcde"},
        "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-web"},
        "trigger": "Pending",
        "policyRef": {"name": "seed"},
    }
    if approval is not None:
        spec["approval"] = approval
    status: dict[str, Any] = {"phase": phase}
    if conditions:
        status["conditions"] = conditions
    if not patch:
        status["noPatchReason"] = "the root cause is outside the workload"
    body = {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DiagnosticReport",
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }
    if not patch:
        return body
    status["suggestedPatch"] = {"target": target, "operations": OPS, "sha256": digest(OPS, target)}
    status["rollbackPatch"] = {"operations": ROLLBACK_OPS, "sha256": digest(ROLLBACK_OPS, target)}
    return sealed(body)


def judged(body: dict[str, Any], *, policy: ActivePolicy | None = POLICY) -> Verdict:
    return judge(ObservedReport.model_validate(copy.deepcopy(body)), key=KEY, policy=policy)


def approve(sha: str = SHA, action: str = "Apply", approver: str | None = "alice") -> dict[str, Any]:
    """A decision as `kubectl sre approve` writes it: in the name and groups of its authenticated user."""
    decision: dict[str, Any] = {"decision": "Approved", "action": action, "patchSHA256": sha}
    if approver is not None:
        decision |= {"approvedBy": approver, "approverGroups": ["sre-oncall", "system:authenticated"]}
    return decision


@pytest.mark.parametrize(
    ("phase", "action", "command"),
    [("AwaitingApproval", "Apply", "approve"), ("Applied", "Rollback", "rollback")],
)
def test_an_approval_that_names_no_approver_is_refused_and_says_how_to_approve(phase, action, command):
    sha = SHA if action == "Apply" else ROLLBACK_SHA
    conditions = [condition("PatchApplied")] if phase == "Applied" else None
    verdict = judged(report(phase, approve(sha, action, approver=None), conditions=conditions))
    assert isinstance(verdict, Refuse)
    assert (verdict.reason, verdict.terminal) == ("ApproverUnknown", False)
    assert f"Approve with `kubectl sre {command} {NAME}`" in verdict.message
    assert "set spec.approval.approvedBy to your own username (`kubectl auth whoami`)" in verdict.message


def test_no_decision_means_nothing_to_do():
    assert judged(report()) is None


def test_matching_sha_applies_the_suggested_patch_to_its_target():
    verdict = judged(report(approval=approve()))
    assert isinstance(verdict, Apply)
    assert [operation.model_dump(exclude_none=True) for operation in verdict.operations] == OPS
    assert verdict.target == PatchTarget.model_validate(TARGET)
    assert verdict.sha256 == SHA
    assert verdict.pod.name == "web-7d9c-abcde"
    assert verdict.policy is POLICY


def test_wrong_sha_is_refused_with_both_digests_and_what_to_do():
    verdict = judged(report(approval=approve("c" * 64)))
    assert isinstance(verdict, Refuse)
    assert verdict.reason == "PatchSHA256Mismatch"
    assert not verdict.terminal  # the human may approve again
    assert "c" * 64 in verdict.message
    assert SHA in verdict.message
    assert f"kubectl sre show {NAME}" in verdict.message


def test_the_sha_covers_the_target_as_well_as_the_operations():
    elsewhere = {**TARGET, "name": "payments"}
    assert digest(OPS, elsewhere) != SHA
    reordered = [dict(reversed(list(operation.items()))) for operation in OPS]
    assert digest(reordered) == SHA
    # An approval of the same operations on another object does not approve this one.
    verdict = judged(report(approval=approve(digest(OPS, elsewhere))))
    assert isinstance(verdict, Refuse)
    assert verdict.reason == "PatchSHA256Mismatch"


def test_rejection_and_findings_only_reports():
    assert isinstance(judged(report(approval={"decision": "Rejected"})), Reject)
    verdict = judged(report("FindingsOnly", approve(), patch=False))
    assert isinstance(verdict, Refuse)
    assert verdict.reason == "NoPatch"
    assert "outside the workload" in verdict.message
    assert "no patch to approve" in verdict.message
    # A findings-only report is already closed: rejecting it is not an action.
    assert judged(report("FindingsOnly", {"decision": "Rejected"}, patch=False)) is None


def test_rollback_needs_an_applied_patch_and_its_own_sha():
    premature = judged(report(approval=approve(ROLLBACK_SHA, "Rollback")))
    assert isinstance(premature, Refuse)
    assert premature.reason == "NothingToRollBack"
    verdict = judged(report("Applied", approve(ROLLBACK_SHA, "Rollback")))
    assert isinstance(verdict, Apply)
    assert verdict.action is ApprovalAction.ROLLBACK
    assert [operation.model_dump(exclude_none=True) for operation in verdict.operations] == ROLLBACK_OPS
    wrong = judged(report("Applied", approve(SHA, "Rollback")))
    assert isinstance(wrong, Refuse)
    assert wrong.reason == "PatchSHA256Mismatch"
    done = report("Applied", approve(ROLLBACK_SHA, "Rollback"), conditions=[condition("RolledBack")])
    assert judged(done) is None
    # A rollback that failed is not retried on every event: the report says so and stays Applied.
    failed = report(
        "Applied", approve(ROLLBACK_SHA, "Rollback"), conditions=[condition("RolledBack", "False", "Failed")]
    )
    assert judged(failed) is None


def test_applied_and_closed_reports_are_not_acted_on_again():
    assert judged(report("Applied", approve())) is None
    assert judged(report("Rejected", approve())) is None
    assert judged(report("Stale", approve())) is None
    assert judged(report("Failed", approve())) is None


def test_an_unknown_policy_holds_the_approval_back():
    verdict = judged(report(approval=approve()), policy=None)
    assert isinstance(verdict, Refuse)
    assert verdict.reason == "PolicyNotFound"
    assert "seed" in verdict.message
    assert not verdict.terminal  # it applies once the policy is back


def deployment(memory: str) -> dict[str, Any]:
    container = {"name": "app", "resources": {"requests": {"memory": memory}}}
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


def test_guard_detects_a_target_changed_since_the_analysis():
    assert guard_failure(deployment("64Gi"), OPS) is None
    failure = guard_failure(deployment("32Gi"), OPS)
    assert failure is not None
    assert "64Gi" in failure


def test_a_patch_already_on_the_target_is_recognised_after_a_restart():
    assert already_applied(deployment("256Mi"), OPS)
    assert not already_applied(deployment("64Gi"), OPS)


def test_the_approver_is_the_authenticated_user_else_the_field_manager_and_the_time_is_recorded():
    body = ObservedReport.model_validate(report(approval=approve()))
    assert approved_by(body) == "alice"
    unnamed = ObservedReport.model_validate(report(approval={"decision": "Rejected"}))
    assert approved_by(unnamed) == "kubectl-patch"
    assert approved_at(body) == datetime(2026, 1, 5, 10, 5, tzinfo=UTC)
    unrecorded = ObservedReport.model_validate(report())
    assert approved_by(unrecorded) is None
    assert approved_at(unrecorded) is None
