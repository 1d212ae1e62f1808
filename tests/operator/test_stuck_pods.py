"""Which pods a controller leaves stuck after a fix, and deleting exactly those (smart_sre.k8s.stuck_pods).

The selection over varied workloads (an OrderedReady, Parallel or OnDelete StatefulSet, a DaemonSet,
a Deployment), what a report discloses before approval, and `replace_stuck` against a dict-backed API
server that answers deletes with the preconditions a real one checks.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from smart_sre.api.diagnosticreport import PatchTarget, StuckCause, StuckPodDeletion
from smart_sre.commands.kubectl_sre import Plugin
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.stuck_pods import Revision, disclosure, replace_stuck, stall_cause, stuck
from smart_sre.lifecycle.verification import health

OLD, NEW = "db-5c7f9d", "db-8a1b2e"
TEMPLATE = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "db:1"}]}}


def workload(kind: str = "StatefulSet", *, observed: bool = True, **spec: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": 4 if observed else 3}
    if kind == "StatefulSet":
        status |= {"currentRevision": OLD, "updateRevision": NEW}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "db", "namespace": "default", "uid": "uid-db", "generation": 4},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "db"}}, "template": TEMPLATE, **spec},
        "status": status,
    }


def member(
    name: str,
    revision: str,
    *,
    healthy: bool,
    owner: str = "uid-db",
    waiting: str = "ImagePullBackOff",
    deleting: bool = False,
) -> dict[str, Any]:
    """A pod of revision `revision`: Running and Ready, or waiting with `waiting` and not Ready."""
    state = {"running": {}} if healthy else {"waiting": {"reason": waiting}}
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "resourceVersion": "10",
            "labels": {"app": "db", "controller-revision-hash": revision},
            "ownerReferences": [{"kind": "StatefulSet", "name": "db", "uid": owner, "controller": True}],
        },
        "spec": {"containers": [{"name": "db", "image": "db:1"}]},
        "status": {
            "phase": "Running" if healthy else "Pending",
            "conditions": [{"type": "Ready", "status": "True" if healthy else "False"}],
            "containerStatuses": [{"name": "db", "ready": healthy, "restartCount": 0, "state": state}],
        },
    }
    if deleting:
        body["metadata"]["deletionTimestamp"] = "2026-01-05T10:00:00Z"
    return body


UPDATED = Revision(frozenset({("controller-revision-hash", NEW)}))


def names(pods: list) -> list[str]:
    return [pod["metadata"]["name"] for pod in pods]


@pytest.mark.parametrize(
    ("case", "target", "pods", "expected"),
    [
        (
            "OrderedReady rolling update stuck on its highest pod: only the broken pod goes",
            workload(),
            [
                member("db-0", OLD, healthy=True),
                member("db-1", OLD, healthy=True),
                member("db-2", OLD, healthy=False),
            ],
            ["db-2"],
        ),
        (
            "a Parallel StatefulSet replaces the broken pod itself",
            workload(podManagementPolicy="Parallel"),
            [member("db-0", OLD, healthy=False)],
            [],
        ),
        (
            "OnDelete StatefulSet: the broken old pod goes, healthy old pods stay as the user chose",
            workload(podManagementPolicy="Parallel", updateStrategy={"type": "OnDelete"}),
            [
                member("db-0", OLD, healthy=True),
                member("db-1", OLD, healthy=False, waiting="CrashLoopBackOff"),
            ],
            ["db-1"],
        ),
        (
            "a pod already on the new revision is not deleted: deleting it would not change its template",
            workload(),
            [member("db-0", OLD, healthy=True), member("db-2", NEW, healthy=False)],
            [],
        ),
        (
            "a Deployment's rollout replaces broken pods itself",
            workload("Deployment"),
            [member("db-0", OLD, healthy=False)],
            [],
        ),
        (
            "another owner's pod with the same labels, and a pod already terminating, are left alone",
            workload(),
            [
                member("db-0", OLD, healthy=False, owner="uid-other"),
                member("db-1", OLD, healthy=False, deleting=True),
            ],
            [],
        ),
        (
            "below a RollingUpdate partition the controller recreates the current revision: left alone",
            workload(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
            [member("db-1", OLD, healthy=False), member("db-2", OLD, healthy=False)],
            ["db-2"],
        ),
    ],
)
def test_selection(case: str, target: dict, pods: list[dict], expected: list[str]) -> None:
    assert names(stuck(target, pods, UPDATED)) == expected, case


def test_a_daemonset_leaves_stuck_pods_only_under_on_delete() -> None:
    """Its pods carry the revision's hash; the API server's template generation counts as well."""
    on_delete = workload("DaemonSet", updateStrategy={"type": "OnDelete"})
    revision = Revision(frozenset({("controller-revision-hash", "6d8f"), ("pod-template-generation", "4")}))
    broken_old = member("db-a", "5b9c", healthy=False)
    broken_new = member("db-b", "6d8f", healthy=False)
    by_generation = member("db-c", "5b9c", healthy=False)
    by_generation["metadata"]["labels"]["pod-template-generation"] = "4"
    healthy_old = member("db-d", "5b9c", healthy=True)
    pods = [broken_old, broken_new, by_generation, healthy_old]
    assert names(stuck(on_delete, pods, revision)) == ["db-a"]
    assert stuck(workload("DaemonSet"), pods, revision) == []  # RollingUpdate deletes unavailable old pods
    assert stall_cause(on_delete) is StuckCause.ON_DELETE


class FakeApi:
    """Pods and workloads by name; deletes checked against the preconditions as the API server does.

    `conflicts`: names whose next delete answers 409 after `then` changed the pod (a status update).
    `observe_after`: the number of reads before the controller has observed the patched generation.
    """

    def __init__(self, target: dict, pods: list[dict], revisions: list[dict] | None = None) -> None:
        self.target = target
        self.pods = {pod["metadata"]["name"]: pod for pod in pods}
        self.revisions = revisions or []
        self.deleted: list[tuple[str, dict]] = []
        self.conflicts: dict[str, Any] = {}
        self.observe_after = 0
        self.slept: list[float] = []

    async def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        if kind == "Pod":
            return copy.deepcopy(self.pods.get(name))
        if self.observe_after > 0:
            self.observe_after -= 1
            return workload(
                self.target["kind"],
                observed=False,
                **{
                    k: v
                    for k, v in self.target["spec"].items()
                    if k not in ("replicas", "selector", "template")
                },
            )
        return copy.deepcopy(self.target)

    async def list(self, kind: str, namespace: str | None = None, **_: Any) -> list[dict]:
        return copy.deepcopy(list(self.pods.values()) if kind == "Pod" else self.revisions)

    async def delete_pod(self, namespace: str, name: str, *, uid: str, resource_version: str) -> None:
        pod = self.pods.get(name)
        if pod is None:
            raise ClusterError(404, f'pods "{name}" not found')
        if name in self.conflicts:
            self.pods[name] = self.conflicts.pop(name)(pod)
            raise ClusterError(409, "Precondition failed: ResourceVersion in precondition: 10")
        assert (uid, resource_version) == (pod["metadata"]["uid"], pod["metadata"]["resourceVersion"])
        self.deleted.append((name, {"uid": uid, "resourceVersion": resource_version}))
        del self.pods[name]

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_the_stuck_pod_is_deleted_as_read_once_the_controller_observed_the_patch() -> None:
    api = FakeApi(workload(), [member("db-0", OLD, healthy=True), member("db-1", OLD, healthy=False)])
    api.observe_after = 2
    replaced = await replace_stuck(api, "StatefulSet", "default", "db", delete=True, sleep=api.sleep)
    assert replaced is not None
    assert replaced.deleted == ("db-1",)
    assert replaced.left == ()
    assert api.deleted == [("db-1", {"uid": "uid-db-1", "resourceVersion": "10"})]
    assert len(api.slept) == 2  # waited for observedGeneration before telling old from new
    assert "OrderedReady" in replaced.reason


async def test_a_pod_that_became_ready_meanwhile_is_not_deleted() -> None:
    api = FakeApi(workload(), [member("db-1", OLD, healthy=False)])

    def recovered(pod: dict) -> dict:
        ready = member("db-1", OLD, healthy=True)
        ready["metadata"]["resourceVersion"] = "11"
        return ready

    api.conflicts["db-1"] = recovered
    replaced = await replace_stuck(api, "StatefulSet", "default", "db", delete=True, sleep=api.sleep)
    assert replaced is not None
    assert (replaced.deleted, replaced.left, api.deleted) == ((), (), [])
    assert "db-1" in api.pods


async def test_without_disclosure_nothing_is_deleted_and_the_pods_are_named() -> None:
    api = FakeApi(workload(), [member("db-2", OLD, healthy=False)])
    replaced = await replace_stuck(api, "StatefulSet", "default", "db", delete=False, sleep=api.sleep)
    assert replaced is not None
    assert (replaced.deleted, replaced.left) == ((), ("db-2",))
    assert "did not say" in (replaced.problem or "")
    assert api.deleted == []


async def test_an_unobserved_patch_deletes_nothing() -> None:
    api = FakeApi(workload(), [member("db-2", OLD, healthy=False)])
    api.observe_after = 1000
    replaced = await replace_stuck(api, "StatefulSet", "default", "db", delete=True, sleep=api.sleep)
    assert replaced is not None
    assert (replaced.deleted, replaced.left) == ((), ("db-2",))
    assert "did not observe" in (replaced.problem or "")
    assert api.deleted == []
    assert 20 < sum(api.slept) < 60


async def test_a_parallel_statefulset_or_a_deployment_needs_nothing() -> None:
    for target in (workload(podManagementPolicy="Parallel"), workload("Deployment")):
        api = FakeApi(target, [member("db-0", OLD, healthy=False)])
        assert await replace_stuck(api, target["kind"], "default", "db", delete=True, sleep=api.sleep) is None
        assert api.deleted == []


async def test_a_daemonsets_update_revision_is_its_newest_controller_revision() -> None:
    target = workload("DaemonSet", updateStrategy={"type": "OnDelete"})
    owner = [{"kind": "DaemonSet", "name": "db", "uid": "uid-db", "controller": True}]
    revisions = [
        {
            "metadata": {
                "name": f"db-{hash_}",
                "labels": {"controller-revision-hash": hash_},
                "ownerReferences": owner,
            },
            "revision": number,
        }
        for hash_, number in (("6d8f", 3), ("5b9c", 2))
    ]
    api = FakeApi(
        target, [member("db-a", "5b9c", healthy=False), member("db-b", "6d8f", healthy=False)], revisions
    )
    replaced = await replace_stuck(api, "DaemonSet", "default", "db", delete=True, sleep=api.sleep)
    assert replaced is not None
    assert replaced.deleted == ("db-a",)


def test_the_report_discloses_the_deletion_only_for_a_template_change_the_controller_stalls_on() -> None:
    live = workload()
    patched = copy.deepcopy(live)
    patched["spec"]["template"]["spec"]["containers"][0]["image"] = "db:2"
    said = disclosure(live, patched)
    assert said is not None
    assert said.cause is StuckCause.ORDERED_READY
    assert disclosure(live, copy.deepcopy(live)) is None  # no new revision, nothing to replace
    parallel = {**patched, "spec": {**patched["spec"], "podManagementPolicy": "Parallel"}}
    assert disclosure(live, parallel) is None
    on_delete = {**parallel, "spec": {**parallel["spec"], "updateStrategy": {"type": "OnDelete"}}}
    assert disclosure(live, on_delete) == StuckPodDeletion(cause=StuckCause.ON_DELETE)
    assert disclosure(workload("Deployment"), {**workload("Deployment"), "spec": patched["spec"]}) is None


async def test_an_on_delete_rollout_is_verified_with_healthy_pods_of_an_older_revision() -> None:
    """kubectl rollout status does not wait for OnDelete updates: the pods left on purpose count."""
    target = workload(updateStrategy={"type": "OnDelete"})
    target["status"] |= {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 1}
    target["spec"]["replicas"] = 2
    api = FakeApi(target, [member("db-0", OLD, healthy=True), member("db-1", NEW, healthy=True)])
    where = PatchTarget(api_version="apps/v1", kind="StatefulSet", namespace="default", name="db")
    assert await health(api, where) is None
    target["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    assert "1/2 updated" in (await health(api, where) or "")


class Denied(FakeApi):
    """A reviewer who may read the StatefulSet but not list its pods."""

    async def list(self, kind: str, namespace: str | None = None, **_: Any) -> list[dict]:
        raise ClusterError(403, 'pods is forbidden: User "bob" cannot list resource "pods"')


def shown_report(cause: str, phase: str = "AwaitingApproval") -> dict[str, Any]:
    """A report on the StatefulSet `db` whose suggestion discloses `cause`, as `kubectl sre show` reads it."""
    target = {"apiVersion": "apps/v1", "kind": "StatefulSet", "namespace": "default", "name": "db"}
    operations = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "db:2"}]
    suggested = {"target": target, "operations": operations, "sha256": "0" * 64}
    return {
        "metadata": {"name": "db-report", "namespace": "default"},
        "spec": {"podRef": {"name": "db-2"}, "workloadRef": {"kind": "StatefulSet", "name": "db"}},
        "status": {"phase": phase, "suggestedPatch": {**suggested, "deletesStuckPods": {"cause": cause}}},
    }


async def test_show_says_what_approving_deletes_and_which_pods_are_stuck_now() -> None:
    api = FakeApi(workload(), [member("db-0", OLD, healthy=True), member("db-2", OLD, healthy=False)])
    shown = await Plugin(api, "default").show(shown_report("OrderedReady"))  # type: ignore[arg-type]
    assert "Approving also deletes stuck pods" in shown
    assert "podManagementPolicy OrderedReady" in shown
    assert "Stuck now: db-2\n" in shown
    applied = await Plugin(api, "default").show(shown_report("OrderedReady", "Applied"))  # type: ignore[arg-type]
    assert "Approving also deletes stuck pods" in applied
    assert "Stuck now" not in applied
    denied = Denied(workload(), [])
    shown = await Plugin(denied, "default").show(shown_report("OnDelete"))  # type: ignore[arg-type]
    assert "updateStrategy OnDelete" in shown
    assert "Stuck now: not known (pods is forbidden" in shown
    # The status is anyone's to write: a cause the CRD would refuse is shown escaped, never trusted.
    shown = await Plugin(api, "default").show(shown_report("\x1b]52;c;evil\x07"))  # type: ignore[arg-type]
    assert "cause \\x1b]52;c;evil\\x07." in shown
    assert "\x1b" not in shown
