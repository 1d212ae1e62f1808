"""The StatefulSet controller: pods name-0..N-1 with stable names and claims, created and updated in order.

With the default OrderedReady policy, a pod that is not Running and Ready blocks every later step, the
way the real controller stalls on a broken pod until someone deletes it.

Templates are versioned as ControllerRevisions (revisions.py): each pod is labelled
`controller-revision-hash` with its revision's name, and status reports `currentRevision` (what the
pods ran before the rollout) and `updateRevision` (the template now). A RollingUpdate replaces pods from
the highest ordinal down to `partition`, one at a time, each once the one before it is healthy; pods
below the partition are (re)created from the current revision. OnDelete replaces only deleted pods.
"""

from __future__ import annotations

import copy

from ..errors import ApiError
from . import revisions
from .controller import Controller
from .endpoints import is_ready
from .revisions import POD_LABEL
from .workloads import active, adopt, by_controller, orphans, pod_from_template

COMPONENT = "statefulset-controller"


def _ordinal(pod: dict, name: str) -> int:
    suffix = pod["metadata"]["name"][len(name) + 1 :]
    return int(suffix) if suffix.isdigit() else -1


def _revision_of(pod: dict) -> str:
    return (pod["metadata"].get("labels") or {}).get(POD_LABEL, "")


def _healthy(pod: dict) -> bool:
    return is_ready(pod) and (pod.get("status") or {}).get("phase") == "Running"


class StatefulSetController(Controller):
    watches = ("statefulsets", "pods", "controllerrevisions")

    async def reconcile(self) -> float | None:
        pods = by_controller(await self.cluster.list("pods"))
        every = await self.cluster.list(revisions.RESOURCE)
        owned_revisions, orphaned = by_controller(every), orphans(every)
        for sts in await self.cluster.list("statefulsets"):
            uid = sts["metadata"]["uid"]
            if not sts["metadata"].get("deletionTimestamp"):
                adopted = await adopt(self.cluster, revisions.RESOURCE, sts, orphaned)
                await self._sync(sts, pods.get(uid, []), owned_revisions.get(uid, []) + adopted)
        return None

    async def _sync(self, sts: dict, pods: list[dict], owned_revisions: list[dict]) -> None:
        name, spec = sts["metadata"]["name"], sts["spec"]
        history = await revisions.record(self.cluster, sts, owned_revisions)
        update = history.update
        current = history.named((sts.get("status") or {}).get("currentRevision", "")) or update
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        owned = active(pods)
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        by_ordinal = {_ordinal(p, name): p for p in owned}
        for ordinal in range(replicas):
            pod = by_ordinal.get(ordinal)
            if pod is None:
                # Below the partition a pod keeps the current revision (newVersionedStatefulSetPod).
                if "rollingUpdate" in strategy and ordinal < partition and current is not update:
                    await self._create(sts, ordinal, current, revisions.template_of(sts, current))
                else:
                    await self._create(sts, ordinal, update, spec["template"])
                if ordered:
                    break
            elif ordered and not _healthy(pod):
                break
        else:
            condemned = sorted((o for o in by_ordinal if o >= replicas), reverse=True)
            if condemned:
                await self._delete(sts, by_ordinal[condemned[0]])
            elif rolling:
                await self._roll(sts, by_ordinal, range(replicas - 1, partition - 1, -1), update)
        in_range = [p for p in owned if 0 <= _ordinal(p, name) < replicas]
        status = {
            "replicas": len(in_range),
            "readyReplicas": sum(1 for p in in_range if is_ready(p)),
            "currentReplicas": sum(1 for p in in_range if _revision_of(p) == current["metadata"]["name"]),
            "updatedReplicas": sum(1 for p in in_range if _revision_of(p) == update["metadata"]["name"]),
            "currentRevision": current["metadata"]["name"],
            "updateRevision": update["metadata"]["name"],
            "collisionCount": history.collision_count,
            "observedGeneration": sts["metadata"].get("generation", 1),
        }
        status["availableReplicas"] = status["readyReplicas"]
        if rolling and status["updatedReplicas"] == status["replicas"] == status["readyReplicas"]:
            # completeRollingUpdate: the update revision becomes the current one.
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = status["updateRevision"]
        await self.cluster.sync_status("statefulsets", sts, status)
        # truncateHistory: keep the current and update revisions, those of pods, and the limit's worth.
        live = {current["metadata"]["name"], update["metadata"]["name"], *map(_revision_of, pods)}
        old = [r for r in history.revisions if r["metadata"]["name"] not in live]
        limit = int(spec.get("revisionHistoryLimit", 10))
        await revisions.prune(self.cluster, history.revisions, live, len(old) - limit)

    async def _roll(self, sts: dict, by_ordinal: dict[int, dict], targets: range, update: dict) -> None:
        """Replace the highest outdated pod; wait while a pod above it is not yet healthy."""
        for ordinal in targets:
            pod = by_ordinal.get(ordinal)
            if pod is None:
                return
            if _revision_of(pod) != update["metadata"]["name"]:
                await self._delete(sts, pod)
                return
            if not _healthy(pod):
                return

    async def _create(self, sts: dict, ordinal: int, revision: dict, template: dict) -> None:
        name, namespace = sts["metadata"]["name"], sts["metadata"]["namespace"]
        pod_name = f"{name}-{ordinal}"
        pod = pod_from_template(sts, template, name=pod_name)
        pod["metadata"]["labels"] = {
            **pod["metadata"]["labels"],
            POD_LABEL: revision["metadata"]["name"],
            "statefulset.kubernetes.io/pod-name": pod_name,
            "apps.kubernetes.io/pod-index": str(ordinal),
        }
        pod["spec"].setdefault("hostname", pod_name)
        if sts["spec"].get("serviceName"):
            pod["spec"].setdefault("subdomain", sts["spec"]["serviceName"])
        volumes = pod["spec"].setdefault("volumes", [])
        for claim_template in sts["spec"].get("volumeClaimTemplates") or []:
            claim_name = f"{claim_template['metadata']['name']}-{pod_name}"
            volumes.append(
                {
                    "name": claim_template["metadata"]["name"],
                    "persistentVolumeClaim": {"claimName": claim_name},
                }
            )
            claim = copy.deepcopy(claim_template)
            claim["metadata"] = {
                "name": claim_name,
                "namespace": namespace,
                "labels": dict((sts["spec"].get("selector") or {}).get("matchLabels") or {}),
            }
            try:
                await self._created(
                    sts,
                    "persistentvolumeclaims",
                    claim,
                    f"create Claim {claim_name} Pod {pod_name} in StatefulSet {name} success",
                )
            except ApiError as error:
                if error.code != 409:
                    raise
        await self._created(sts, "pods", pod, f"create Pod {pod_name} in StatefulSet {name} successful")

    async def _created(self, sts: dict, resource: str, obj: dict, message: str) -> None:
        """Create `obj` for `sts`; a claim that already exists (409) raises before any event."""
        await self.cluster.create(
            resource, obj, about=sts, reason="SuccessfulCreate", message=message, component=COMPONENT
        )

    async def _delete(self, sts: dict, pod: dict) -> None:
        await self.cluster.delete("pods", pod)
        await self.cluster.events.record(
            sts,
            "Normal",
            "SuccessfulDelete",
            f"delete Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} successful",
            component=COMPONENT,
        )
