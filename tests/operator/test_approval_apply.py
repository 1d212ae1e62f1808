"""Applying an approved patch: proven again against the cluster, retried through API failures.

`Approver.handle` against a dict-backed API server: the failing pod of Deployment `web` (through
ReplicaSet `web-7d9c`), and a report whose sealed suggestion raises its memory request.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import jsonpatch
import pytest

from smart_sre.api.diagnosticreport import DiagnosticReportStatus, ObservedReport, PatchTarget
from smart_sre.k8s.access import Access
from smart_sre.k8s.cluster import KINDS, ClusterError
from smart_sre.k8s.owners import owner_chain
from smart_sre.k8s.writer import merge_patch
from smart_sre.lifecycle.approval import Apply, Approver, Refuse, judge
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import PolicyBook

from .pods import pod
from .test_approval_checks import KEY, NAME, POLICY, ROLLBACK_SHA, SHOWN, approve, condition, report

NOW = SHOWN.replace(minute=10)
POD = "web-7d9c-abcde"


def deployment(memory: str = "64Gi") -> dict[str, Any]:
    container = {"name": "app", "image": "web:1", "resources": {"requests": {"memory": memory}}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-web", "generation": 3},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}},
    }


def replicaset() -> dict[str, Any]:
    owner = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": "uid-web",
        "controller": True,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web-7d9c", "namespace": "default", "uid": "uid-rs", "ownerReferences": [owner]},
    }


def failing_pod(owner: dict[str, Any] | None = None) -> dict[str, Any]:
    body = pod(POD, phase="Pending")
    reference = owner or {"kind": "ReplicaSet", "name": "web-7d9c", "uid": "uid-rs", "controller": True}
    body["metadata"]["ownerReferences"] = [reference]
    return body


class FakeApi:
    """The API server as the approver uses it: objects by kind and name, one report, JSON patches.

    `failures` are raised by the next real PATCHes in order; a failure whose `landed` is True is
    raised after the patch was applied (the answer was lost). `refuse_dry_run` fails every dry run.
    """

    def __init__(self, body: dict[str, Any], objects: list[dict[str, Any]]) -> None:
        self.report = body
        self.objects = objects
        self.failures: list[tuple[ClusterError, bool]] = []
        self.refuse_dry_run: ClusterError | None = None
        self.sent: list[list[dict[str, Any]]] = []
        self.dry_runs = 0
        # What the SubjectAccessReview answers, and who it was asked about.
        self.access = Access(True, 'RBAC: allowed by RoleBinding "alice-patches-web/default"')
        self.reviewed: list[tuple[str, tuple[str, ...], str]] = []

    def _find(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name), None)

    async def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        assert kind in KINDS
        found = self._find(kind, name)
        return copy.deepcopy(found) if found and found["metadata"].get("namespace") == namespace else None

    def _patched(self, kind: str, name: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
        live = self._find(kind, name)
        if live is None:
            raise ClusterError(404, f"{kind} {name} not found")
        try:
            return jsonpatch.apply_patch(live, operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            raise ClusterError(422, str(error)) from error

    async def dry_run_patch(
        self, kind: str, namespace: str | None, name: str, operations: list[dict]
    ) -> dict:
        self.dry_runs += 1
        if self.refuse_dry_run is not None:
            raise self.refuse_dry_run
        return self._patched(kind, name, operations)

    async def apply_json_patch(
        self, kind: str, namespace: str | None, name: str, operations: list[dict]
    ) -> dict:
        self.sent.append(operations)
        error, landed = self.failures.pop(0) if self.failures else (None, True)
        if landed:
            patched = self._patched(kind, name, operations)
            self.objects = [patched if o is self._find(kind, name) else o for o in self.objects]
        if error is not None:
            raise error
        return patched

    async def patch_report_status(
        self, report: ObservedReport, status: DiagnosticReportStatus
    ) -> ObservedReport:
        merged = {**self.report["status"], **merge_patch(status)}
        self.report = {**self.report, "status": {k: v for k, v in merged.items() if v is not None}}
        return ObservedReport.model_validate(self.report)

    def delete(self, kind: str, name: str) -> None:
        self.objects = [o for o in self.objects if (o["kind"], o["metadata"]["name"]) != (kind, name)]

    def memory(self) -> str:
        live = self._find("Deployment", "web")
        assert live is not None
        return live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"]


@pytest.fixture(autouse=True)
def reviews(monkeypatch: pytest.MonkeyPatch) -> None:
    """SubjectAccessReviews answered by the FakeApi they are sent through."""

    async def may_patch(cluster: FakeApi, *, user: str, groups: Sequence[str], target: PatchTarget) -> Access:
        cluster.reviewed.append((user, tuple(groups), f"{target.kind}/{target.name}"))
        return cluster.access

    monkeypatch.setattr("smart_sre.lifecycle.approval.may_patch", may_patch)


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    posted: list[str] = []
    for name in ("info", "warn"):
        monkeypatch.setattr(
            f"smart_sre.lifecycle.approval.kopf.{name}",
            lambda obj, *, reason, message: posted.append(reason),
        )
    return posted


def rollback_approved() -> dict[str, Any]:
    """An applied report whose rollback a human approved."""
    return report("Applied", approve(ROLLBACK_SHA, "Rollback"), conditions=[condition("PatchApplied")])


def api(body: dict[str, Any], *, pod_body: dict[str, Any] | None = None, memory: str = "64Gi") -> FakeApi:
    return FakeApi(body, [deployment(memory), replicaset(), pod_body or failing_pod()])


async def decide(fake: FakeApi, *, policy=POLICY, slept: list[float] | None = None) -> dict[str, Any]:
    """Judge the report as stored and act on it, as the controller does; the report afterwards."""
    observed = ObservedReport.model_validate(fake.report)
    verdict = judge(observed, key=KEY, policy=policy)
    assert verdict is not None

    async def sleep(seconds: float) -> None:
        (slept if slept is not None else []).append(seconds)

    approver = Approver(fake, Metrics(), reviews=fake, retry_delays=(0.5, 1.0), sleep=sleep)  # type: ignore[arg-type]
    await approver.handle(observed, verdict, now=NOW)
    return fake.report["status"]


def status_of(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


async def test_an_approved_patch_is_proven_again_with_a_fresh_dry_run_and_applied(events):
    fake = api(report(approval=approve()))
    status = await decide(fake)
    assert status["phase"] == "Applied"
    assert fake.memory() == "256Mi"
    assert fake.dry_runs == 1  # repeated at apply, not trusted from the analysis
    assert status_of(status, "PatchApplied")["status"] == "True"
    assert status["approvedBy"] == "alice"
    assert fake.reviewed == [("alice", ("sre-oncall", "system:authenticated"), "Deployment/web")]
    assert events == ["ApplyApplied"]


@pytest.mark.parametrize("action", ["Apply", "Rollback"])
async def test_an_approver_who_may_not_make_the_change_gets_nothing_applied(events, action):
    body = report(approval=approve()) if action == "Apply" else rollback_approved()
    fake = api(body, memory="64Gi" if action == "Apply" else "256Mi")
    fake.access = Access(
        False,
        'User "alice" cannot patch resource "deployments" in API group "apps" in the namespace "default"',
    )
    before = fake.report["status"]["phase"]
    status = await decide(fake)
    assert status["phase"] == before  # another approver may still decide
    refused = status_of(status, "ApprovalRefused")
    assert (refused["status"], refused["reason"]) == ("True", "ApproverNotAllowed")
    assert refused["message"].startswith(
        "alice approved, but may not patch Deployment default/web themselves "
        '(User "alice" cannot patch resource "deployments" in API group "apps" in the namespace "default")'
    )
    command = "rollback" if action == "Rollback" else "approve"
    assert f"Ask someone who may patch it to run `kubectl sre {command} {NAME}`" in refused["message"]
    assert fake.memory() == ("64Gi" if action == "Apply" else "256Mi")
    assert fake.sent == []
    assert fake.dry_runs == 0


async def test_a_bare_pod_claiming_the_deployment_gets_nothing_patched(events):
    # Same namespace, a bare pod whose ownerReference names Deployment web with a uid that is not web's.
    spoofing = failing_pod({"kind": "Deployment", "name": "web", "uid": "uid-not-web", "controller": True})
    assert await owner_chain(api(report()), spoofing) == [spoofing]
    fake = api(report(approval=approve()), pod_body=spoofing)
    status = await decide(fake)
    assert status["phase"] == "Failed"
    applied = status_of(status, "PatchApplied")
    assert (applied["status"], applied["reason"]) == ("False", "NotInOwnerChain")
    assert (
        "Deployment/web (uid uid-web) is not in the owner chain of pod web-7d9c-abcde" in applied["message"]
    )
    assert fake.memory() == "64Gi"
    assert fake.sent == []


async def test_owners_are_followed_only_along_the_edges_controllers_create():
    # Even with web's real uid, a pod is never directly owned by a Deployment.
    direct = failing_pod({"kind": "Deployment", "name": "web", "uid": "uid-web", "controller": True})
    assert await owner_chain(api(report()), direct) == [direct]
    chain = await owner_chain(api(report()), failing_pod())
    assert [o["metadata"]["name"] for o in chain] == [POD, "web-7d9c", "web"]


async def test_a_patch_the_api_server_refuses_in_the_dry_run_at_apply_is_not_sent(events):
    fake = api(report(approval=approve()))
    fake.refuse_dry_run = ClusterError(422, "admission webhook denied the request: memory above quota")
    status = await decide(fake)
    assert status["phase"] == "Failed"
    applied = status_of(status, "PatchApplied")
    assert applied["reason"] == "UnsafePatch"
    assert "memory above quota" in applied["message"]
    assert "nothing was applied" in applied["message"]
    assert fake.sent == []


async def test_a_patch_the_policy_no_longer_allows_is_not_sent(events):
    book = PolicyBook()
    book.upsert(
        {
            "metadata": {"name": "seed", "generation": 2},
            "spec": {
                "rules": [{"namespaces": ["default"]}],
                "remediation": {"allowedTargetKinds": ["StatefulSet"]},
            },
        }
    )
    fake = api(report(approval=approve()))
    status = await decide(fake, policy=book.get("seed"))
    assert status["phase"] == "Failed"
    assert "does not allow patching a Deployment" in status_of(status, "PatchApplied")["message"]
    assert fake.sent == []


@pytest.mark.parametrize(
    ("decided", "before", "after", "phase", "outcome"),
    [
        # The fix is not applied: nothing shows its target still owns a failing pod.
        pytest.param(
            lambda: report(approval=approve()),
            "64Gi",
            "64Gi",
            "Stale",
            ("PatchApplied", "False", "PodGone"),
            id="apply",
        ),
        # The rollback goes ahead: it undoes the fix on the very object patched, whose pods were replaced.
        pytest.param(
            rollback_approved, "256Mi", "64Gi", "Applied", ("RolledBack", "True", "Applied"), id="rollback"
        ),
    ],
)
async def test_when_the_failing_pod_is_gone(events, decided, before, after, phase, outcome):
    fake = api(decided(), memory=before)
    fake.delete("Pod", POD)
    status = await decide(fake)
    assert status["phase"] == phase
    found = status_of(status, outcome[0])
    assert (found["type"], found["status"], found["reason"]) == outcome
    assert fake.memory() == after


async def test_api_errors_are_retried_then_the_patch_applies(events):
    fake = api(report(approval=approve()))
    fake.failures = [(ClusterError(500, "etcdserver: request timed out"), False)]
    slept: list[float] = []
    status = await decide(fake, slept=slept)
    assert status["phase"] == "Applied"
    assert fake.memory() == "256Mi"
    assert slept == [0.5]
    assert "at attempt 2" in status_of(status, "PatchApplied")["message"]


async def test_a_patch_that_landed_though_its_answer_was_lost_is_applied_once(events):
    fake = api(report(approval=approve()))
    fake.failures = [(ClusterError(0, "cannot reach the API server: connection reset"), True)]
    status = await decide(fake)
    assert status["phase"] == "Applied"
    assert len(fake.sent) == 2  # the resend's guard failed on the applied value: not applied twice
    assert fake.memory() == "256Mi"
    assert "answer was lost" in status_of(status, "PatchApplied")["message"]


async def test_retries_are_bounded_and_client_errors_are_not_retried(events):
    fake = api(report(approval=approve()))
    fake.failures = [(ClusterError(429, "too many requests"), False)] * 3
    status = await decide(fake)
    assert status["phase"] == "Failed"
    assert len(fake.sent) == 3
    assert "after 3 attempt(s)" in status_of(status, "PatchApplied")["message"]
    forbidden = api(report(approval=approve()))
    forbidden.failures = [(ClusterError(403, "forbidden"), False)]
    assert (await decide(forbidden))["phase"] == "Failed"
    assert len(forbidden.sent) == 1


async def test_a_failed_rollback_keeps_the_report_applied_and_says_so(events):
    fake = api(rollback_approved(), memory="256Mi")
    fake.failures = [(ClusterError(503, "the server is currently unable to handle the request"), False)] * 3
    status = await decide(fake)
    assert status["phase"] == "Applied"
    rolled = status_of(status, "RolledBack")
    assert (rolled["status"], rolled["reason"]) == ("False", "Failed")
    assert "the fix stays applied" in rolled["message"]
    assert fake.memory() == "256Mi"
    assert events == ["RollbackFailed"]
    # Not retried on every event: the decision was acted upon.
    assert judge(ObservedReport.model_validate(fake.report), key=KEY, policy=POLICY) is None


async def test_a_tampered_suggestion_fails_the_report_and_changes_nothing(events):
    body = report(approval=approve())
    body["status"]["suggestedPatch"]["operations"][1]["value"] = "1Ti"
    fake = api(body)
    verdict = judge(ObservedReport.model_validate(fake.report), key=KEY, policy=POLICY)
    assert isinstance(verdict, Refuse)
    status = await decide(fake)
    assert status["phase"] == "Failed"
    refused = status_of(status, "ApprovalRefused")
    assert (refused["status"], refused["reason"]) == ("True", "SuggestionTampered")
    assert "finishedAt" in status["timings"]
    assert fake.sent == []
    assert fake.dry_runs == 0
    assert events == ["SuggestionTampered"]
    assert judge(ObservedReport.model_validate(fake.report), key=KEY, policy=POLICY) is None


async def test_a_tampered_rollback_of_an_applied_report_is_refused_and_the_report_stays_applied(events):
    body = rollback_approved()
    body["status"]["rollbackPatch"]["operations"][1]["value"] = "1Ti"
    fake = api(body, memory="256Mi")
    status = await decide(fake)
    assert status["phase"] == "Applied"
    assert status_of(status, "ApprovalRefused")["reason"] == "SuggestionTampered"
    assert fake.memory() == "256Mi"


async def test_a_restart_mid_apply_finishes_without_sending_the_patch_twice(events):
    body = report("Applying", approve())
    fake = api(body, memory="256Mi")
    verdict = judge(ObservedReport.model_validate(fake.report), key=KEY, policy=POLICY)
    assert isinstance(verdict, Apply)
    status = await decide(fake)
    assert status["phase"] == "Applied"
    assert fake.sent == []
    assert "already carries the patch" in status_of(status, "PatchApplied")["message"]
