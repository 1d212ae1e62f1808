"""Pods a workload's controller will not replace by itself once its template is fixed.

A StatefulSet with the default podManagementPolicy OrderedReady and a RollingUpdate stops at a pod that
never becomes Running and Ready and waits: reverting or fixing the template is not enough, the pod that
ran the bad one must be deleted too (the Kubernetes documentation's "Forced rollback"). Under
updateStrategy OnDelete (StatefulSet or DaemonSet) the controller replaces a pod only once it is deleted.
A Deployment, a Parallel StatefulSet and a RollingUpdate DaemonSet replace a broken pod themselves.

`investigation.patch_safety` calls `disclosure` when it vets a fix, so that the report says before
approval that approving also deletes such pods, and why (`suggestedPatch.deletesStuckPods`, sealed with
it; `kubectl sre show` puts it in words and names the pods stuck now). `lifecycle.approval` calls
`replace_stuck` once the approved patch is applied, and only deletes when it was said. The pods deleted are
chosen from the live cluster, never from a report: those the target controls that are not on the update
revision its controller observed for the patched template and not Running and Ready. Each is deleted
with preconditions (uid, resourceVersion), so a pod replaced or changed since it was read is left alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smart_sre.api.diagnosticreport import StuckCause, StuckPodDeletion
from smart_sre.k8s.cluster import ClusterError, ClusterReader
from smart_sre.k8s.owners import controller_ref
from smart_sre.k8s.writer import ClusterWriter

# On a StatefulSet's pods: the name of their ControllerRevision; on a DaemonSet's: its hash.
REVISION_LABEL = "controller-revision-hash"
# The DaemonSet controller also marks pods with the template generation the API server keeps in an annotation.
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
# Waits for the controller to observe the patched generation (about 30 s in all).
OBSERVE_DELAYS = (0.2, 0.3, 0.5, *(1.0,) * 29)
# Attempts at one pod's delete: a 409 (changed since read) or a transient error is read and tried again.
DELETE_ATTEMPTS = 3

Sleep = Callable[[float], Awaitable[None]]


def _strategy(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    return (workload.get("spec") or {}).get("updateStrategy") or {}


def stall_cause(workload: Mapping[str, Any]) -> StuckCause | None:
    """Why the workload's controller will not replace a pod stuck on an old template; None when it will."""
    kind, spec = workload.get("kind"), workload.get("spec") or {}
    if kind not in ("StatefulSet", "DaemonSet"):
        return None
    if _strategy(workload).get("type", "RollingUpdate") == "OnDelete":
        return StuckCause.ON_DELETE
    if kind == "StatefulSet" and spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady":
        return StuckCause.ORDERED_READY
    return None


def explain(cause: StuckCause, kind: str, name: str) -> str:
    """The cause in words, for the report's reader."""
    if cause is StuckCause.ON_DELETE:
        return (
            f"{kind} {name} has updateStrategy OnDelete: its controller replaces a pod with the patched "
            "template only once that pod is deleted"
        )
    return (
        f"{kind} {name} has podManagementPolicy OrderedReady: its rolling update waits for a pod that never "
        "becomes Running and Ready, and fixing the template does not replace that pod (Kubernetes' \"forced "
        'rollback")'
    )


def running_and_ready(pod: Mapping[str, Any]) -> bool:
    """Running with its Ready condition True: what the StatefulSet controller waits for."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in status.get("conditions") or ()
    )


def selector_of(workload: Mapping[str, Any]) -> str | None:
    """The workload's matchLabels as a label selector: it narrows a pod list, the owner decides."""
    labels = (((workload.get("spec") or {}).get("selector") or {}).get("matchLabels")) or {}
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items())) or None


@dataclass(frozen=True)
class Revision:
    """What marks a pod of the workload's update revision: a pod carrying any of these labels is updated
    (the DaemonSet controller's IsPodUpdated accepts the hash or the template generation)."""

    labels: frozenset[tuple[str, str]]

    def carried_by(self, pod: Mapping[str, Any]) -> bool:
        labels = pod["metadata"].get("labels") or {}
        return any(labels.get(key) == value for key, value in self.labels)


def partition(workload: Mapping[str, Any]) -> int:
    """A StatefulSet RollingUpdate's partition: only pods from this ordinal up are updated."""
    return int((_strategy(workload).get("rollingUpdate") or {}).get("partition") or 0)


def _below_partition(workload: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """A StatefulSet pod below a RollingUpdate's partition: deleting it brings back the current revision."""
    if workload.get("kind") != "StatefulSet":
        return False
    ordinal = pod["metadata"]["name"].removeprefix(f"{workload['metadata']['name']}-")
    return ordinal.isdigit() and int(ordinal) < partition(workload)


def stuck(
    workload: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], revision: Revision | None
) -> list[Mapping[str, Any]]:
    """The pods of `workload` its controller will not replace: controlled by it (by uid), not being
    deleted, not on `revision` (None: the revision a patch is yet to make, so every pod is older) and
    not Running and Ready. Empty when the controller replaces broken pods itself."""
    if stall_cause(workload) is None:
        return []
    uid = workload["metadata"].get("uid")
    return [
        pod
        for pod in pods
        if (ref := controller_ref(dict(pod))) is not None
        and ref.get("uid") == uid
        and not pod["metadata"].get("deletionTimestamp")
        and not (revision is not None and revision.carried_by(pod))
        and not running_and_ready(pod)
        and not _below_partition(workload, pod)
    ]


async def pods_of(cluster: ClusterReader, workload: Mapping[str, Any]) -> list[dict]:
    """The pods in the workload's namespace its selector names (its controller's are picked by `stuck`)."""
    selector = selector_of(workload)
    if selector is None:
        return []
    return await cluster.list("Pod", workload["metadata"].get("namespace"), label_selector=selector)


def _template(workload: Mapping[str, Any]) -> Any:
    return (workload.get("spec") or {}).get("template")


def disclosure(live: Mapping[str, Any], patched: Mapping[str, Any]) -> StuckPodDeletion | None:
    """What the report must say before approval: the patch changes the pod template of a workload whose
    controller leaves stuck pods to a human. None otherwise."""
    cause = stall_cause(patched)
    if cause is None or _template(live) == _template(patched):
        return None
    return StuckPodDeletion(cause=cause)


async def update_revision(cluster: ClusterReader, workload: Mapping[str, Any]) -> Revision | None:
    """The update revision the workload's controller made for its current template; None until the
    controller has observed the current generation."""
    metadata, status = workload["metadata"], workload.get("status") or {}
    if (status.get("observedGeneration") or 0) < (metadata.get("generation") or 0):
        return None
    if workload.get("kind") == "StatefulSet":
        name = status.get("updateRevision")
        return Revision(frozenset({(REVISION_LABEL, name)})) if name else None
    labels: set[tuple[str, str]] = set()
    if generation := (metadata.get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION):
        labels.add((TEMPLATE_GENERATION_LABEL, generation))
    # The DaemonSet controller renumbers its current template's revision as the newest.
    owned = [
        revision
        for revision in await cluster.list(
            "ControllerRevision", metadata.get("namespace"), label_selector=selector_of(workload)
        )
        if (controller_ref(revision) or {}).get("uid") == metadata.get("uid")
    ]
    if owned:
        newest = max(owned, key=lambda revision: int(revision.get("revision") or 0))
        if hash_ := (newest["metadata"].get("labels") or {}).get(REVISION_LABEL):
            labels.add((REVISION_LABEL, hash_))
    return Revision(frozenset(labels)) if labels else None


@dataclass(frozen=True)
class Replacement:
    """What `replace_stuck` did: the pods deleted, the stuck ones left (and why)."""

    reason: str
    deleted: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    problem: str | None = None


async def _observed(
    writer: ClusterWriter, kind: str, namespace: str, name: str, sleep: Sleep
) -> tuple[dict | None, Revision | None]:
    """The workload and its update revision, once its controller has observed the patched generation."""
    workload: dict | None = None
    for delay in (0.0, *OBSERVE_DELAYS):
        if delay:
            await sleep(delay)
        workload = await writer.get(kind, namespace, name)
        if workload is None:
            return None, None
        workload.setdefault("kind", kind)
        if stall_cause(workload) is None:
            return workload, None  # its controller replaces broken pods itself: nothing to wait for
        if (revision := await update_revision(writer, workload)) is not None:
            return workload, revision
    return workload, None


async def _delete(
    writer: ClusterWriter, workload: Mapping[str, Any], pod: Mapping[str, Any], revision: Revision
) -> tuple[bool, str | None]:
    """(deleted, why not) for `pod`, deleted as read and read again after a conflict; neither when it no
    longer needs deleting (gone, replaced, Running and Ready, or on the update revision)."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    current: Mapping[str, Any] | None = pod
    failure = None
    for _ in range(DELETE_ATTEMPTS):
        if current is None or current["metadata"].get("uid") != pod["metadata"].get("uid"):
            return False, None
        if not stuck(workload, [current], revision):
            return False, None
        try:
            await writer.delete_pod(
                namespace,
                name,
                uid=current["metadata"]["uid"],
                resource_version=current["metadata"]["resourceVersion"],
            )
        except ClusterError as error:
            if error.status == 404:
                return False, None
            failure = str(error)
            if error.status != 409 and not error.transient:
                break
            current = await writer.get("Pod", namespace, name)
        else:
            return True, None
    return False, failure


async def replace_stuck(
    writer: ClusterWriter, kind: str, namespace: str, name: str, *, delete: bool, sleep: Sleep
) -> Replacement | None:
    """Once a patch to `kind`/`name` is applied: delete its stuck pods (`delete`), or only name them.
    None when its controller replaces broken pods itself."""
    workload, revision = await _observed(writer, kind, namespace, name, sleep)
    if workload is None or (cause := stall_cause(workload)) is None:
        return None
    reason = explain(cause, kind, name)
    candidates = stuck(workload, await pods_of(writer, workload), revision)
    names = tuple(sorted(pod["metadata"]["name"] for pod in candidates))
    if revision is None:
        return Replacement(
            reason,
            left=names,
            problem=f"the {kind} controller did not observe the patched template in time, so no pod "
            "could be told to be on the old revision",
        )
    if not delete:
        return Replacement(
            reason, left=names, problem="the suggestion approved did not say that they would be deleted"
        )
    deleted, left, failures = [], [], []
    for pod in candidates:
        done, failure = await _delete(writer, workload, pod, revision)
        if done:
            deleted.append(pod["metadata"]["name"])
        elif failure:
            left.append(pod["metadata"]["name"])
            failures.append(f"{pod['metadata']['name']}: {failure}")
    return Replacement(reason, tuple(deleted), tuple(left), "; ".join(failures) or None)
