"""A policy that wants two approvers: the patch waits until two people who may make the change approved it.

`Approver.handle` against the dict-backed API server of test_approval_apply: alice approves first
(`spec.approval`, as `kubectl sre approve` writes the first decision), mallory and bob add their own
entries to `spec.approvals`; only alice and bob may patch Deployment `web`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from smart_sre.api.diagnosticreport import ObservedReport, PatchTarget
from smart_sre.commands.kubectl_sre import Plugin
from smart_sre.k8s.access import Access, Identity
from smart_sre.lifecycle.approval import Apply, judge
from smart_sre.lifecycle.policies import ActivePolicy, PolicyBook

from .test_approval_apply import FakeApi, api, decide, status_of
from .test_approval_checks import APPROVED, KEY, NAME, SHA, approve, report

DENIED = 'User "mallory" cannot patch resource "deployments" in API group "apps" in the namespace "default"'


def _quorum_policy() -> ActivePolicy:
    book = PolicyBook()
    book.upsert(
        {
            "metadata": {"name": "seed", "generation": 1},
            "spec": {"rules": [{"namespaces": ["default"]}], "remediation": {"requiredApprovals": 2}},
        }
    )
    policy = book.get("seed")
    assert policy is not None
    return policy


QUORUM = _quorum_policy()


@pytest.fixture(autouse=True)
def reviews(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """SubjectAccessReviews: alice and bob may patch Deployment web, mallory may not; who was asked."""
    asked: list[str] = []

    async def may_patch(cluster: FakeApi, *, user: str, groups: Sequence[str], target: PatchTarget) -> Access:
        asked.append(user)
        return Access(False, DENIED) if user == "mallory" else Access(True, f'RBAC: allowed for "{user}"')

    monkeypatch.setattr("smart_sre.lifecycle.approval.may_patch", may_patch)
    return asked


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("info", "warn"):
        monkeypatch.setattr(f"smart_sre.lifecycle.approval.kopf.{name}", lambda obj, *, reason, message: None)


def add_entry(fake: FakeApi, entry: dict[str, Any], *, written: str = APPROVED) -> None:
    """An approver adds their own entry to spec.approvals; managedFields record when, by its key."""
    fake.report["spec"].setdefault("approvals", []).append(entry)
    key = "k:" + json.dumps({"approvedBy": entry["approvedBy"]}, separators=(",", ":"))
    fake.report["metadata"]["managedFields"].append(
        {
            "manager": "kubectl-sre",
            "operation": "Update",
            "time": written,
            "fieldsV1": {"f:spec": {"f:approvals": {key: {".": {}}}}},
        }
    )


def alice_approved() -> FakeApi:
    return api(report(approval=approve()))


async def test_two_approvers_who_may_patch_are_needed_and_one_who_may_not_does_not_count(reviews):
    fake = alice_approved()

    status = await decide(fake, policy=QUORUM)
    assert status["phase"] == "AwaitingApproval"
    waiting = status_of(status, "Approvals")
    assert (waiting["status"], waiting["reason"]) == ("False", "AwaitingMoreApprovals")
    assert waiting["message"] == (
        "1 of 2 approvals: alice; waiting for another approver who may patch Deployment default/web. "
        f"Each of them runs `kubectl sre approve {NAME}`"
    )
    assert fake.sent == []
    assert fake.memory() == "64Gi"

    add_entry(fake, approve(approver="mallory"))
    status = await decide(fake, policy=QUORUM)
    assert status["phase"] == "AwaitingApproval"
    assert status_of(status, "Approvals")["message"] == (
        "1 of 2 approvals: alice; waiting for another approver who may patch Deployment default/web. "
        f"Not counted: mallory approved, but may not patch it themselves ({DENIED}). "
        f"Each of them runs `kubectl sre approve {NAME}`"
    )
    assert fake.sent == []

    add_entry(fake, approve(approver="bob"))
    status = await decide(fake, policy=QUORUM)
    assert status["phase"] == "Applied"
    assert fake.memory() == "256Mi"
    assert status["approvedBy"] == "alice, bob"
    approvals = status_of(status, "Approvals")
    assert (approvals["status"], approvals["message"]) == ("True", "2 of 2 approvals: alice, bob")
    assert reviews[-3:] == ["alice", "mallory", "bob"]  # each approver's own rights were asked about


async def test_waiting_is_said_once_not_rewritten_on_every_look():
    fake = alice_approved()
    await decide(fake, policy=QUORUM)
    before = fake.report
    await decide(fake, policy=QUORUM)
    assert fake.report is before  # no second status write, so no event loop on our own write


async def test_a_rejection_by_any_approver_rejects_the_report():
    fake = alice_approved()
    add_entry(fake, {"decision": "Rejected", "approvedBy": "bob"})
    status = await decide(fake, policy=QUORUM)
    assert status["phase"] == "Rejected"
    assert status["approvedBy"] == "bob"
    assert fake.sent == []


async def test_an_entry_that_pins_another_patch_is_refused_and_names_whose_it_is():
    fake = alice_approved()
    add_entry(fake, approve("c" * 64, approver="bob"))
    status = await decide(fake, policy=QUORUM)
    refused = status_of(status, "ApprovalRefused")
    assert refused["reason"] == "PatchSHA256Mismatch"
    assert refused["message"].startswith(f"bob's entry in spec.approvals pins patchSHA256 {'c' * 64}")
    assert SHA in refused["message"]
    assert fake.sent == []


async def test_an_entry_written_before_the_patch_was_shown_is_refused():
    fake = alice_approved()
    add_entry(fake, approve(approver="bob"), written="2026-01-05T09:00:00Z")
    status = await decide(fake, policy=QUORUM)
    refused = status_of(status, "ApprovalRefused")
    assert refused["reason"] == "ApprovalPredatesSuggestion"
    assert refused["message"].startswith("bob's entry in spec.approvals was written at 2026-01-05T09:00:00")
    assert fake.sent == []


def test_spec_approval_counts_once_for_a_user_who_also_has_an_entry():
    fake = alice_approved()
    add_entry(fake, approve(approver="alice"))
    add_entry(fake, approve(approver="bob"))
    verdict = judge(ObservedReport.model_validate(fake.report), key=KEY, policy=QUORUM)
    assert isinstance(verdict, Apply)
    assert [signer.user for signer in verdict.approvers] == ["alice", "bob"]
    assert verdict.required == 2


class RecordingCluster:
    """Where `kubectl sre` writes its decision: the merge patches it sends."""

    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    async def patch_report(self, namespace: str, name: str, body: dict, *, field_manager: str) -> dict:
        self.patches.append(body)
        return {}


async def decide_as(monkeypatch: pytest.MonkeyPatch, user: str, body: dict[str, Any]) -> dict[str, Any]:
    """What `kubectl sre approve` run by `user` writes on the report `body`."""

    async def who_am_i(cluster: RecordingCluster) -> Identity:
        return Identity(user, ("sre-oncall",))

    monkeypatch.setattr("smart_sre.commands.kubectl_sre.who_am_i", who_am_i)
    cluster = RecordingCluster()
    plugin = Plugin(cluster, "default")  # type: ignore[arg-type]
    await plugin.decide(body, {"decision": "Approved", "action": "Apply", "patchSHA256": SHA})
    return cluster.patches[0]


async def test_kubectl_sre_approve_adds_a_second_approvers_entry_without_clobbering_the_first(monkeypatch):
    body = report(approval=approve())
    body["metadata"]["resourceVersion"] = "7"
    first = await decide_as(monkeypatch, "alice", body)
    assert list(first["spec"]) == ["approval"]  # all a one-approver policy reads, as before

    mallory = approve(approver="mallory")
    body["spec"]["approvals"] = [mallory]
    bob = await decide_as(monkeypatch, "bob", body)
    mine = {
        "decision": "Approved",
        "action": "Apply",
        "patchSHA256": SHA,
        "approvedBy": "bob",
        "approverGroups": ["sre-oncall"],
    }
    assert bob == {"metadata": {"resourceVersion": "7"}, "spec": {"approvals": [mallory, mine]}}
