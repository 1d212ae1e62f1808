"""The Deployment controller: one ReplicaSet per pod template (named by its hash), rolled by the strategy.

RollingUpdate follows kube-controller-manager's arithmetic (maxSurge rounds up, maxUnavailable down,
unhealthy old replicas are cleaned up first), so a fixed template replaces crash-looping pods only
once new pods are available, and a broken new template never takes the old healthy pods down.

The ReplicaSets are the Deployment's revision history, which `kubectl rollout history|undo` read: each
carries `deployment.kubernetes.io/revision` (the Deployment carries its newest), and the Deployment's
other annotations (`kubernetes.io/change-cause`, the CHANGE-CAUSE column) are copied onto its newest
ReplicaSet. A template that comes back (an undo) reuses its old ReplicaSet, renumbered as the newest
revision, its former numbers kept in `deployment.kubernetes.io/revision-history`. Once a rollout is
complete, `revisionHistoryLimit` old ReplicaSets are kept, the oldest revisions scaled to zero go.
"""

from __future__ import annotations

import copy

from ..errors import ApiError
from ..objects import copy_json
from .controller import MERGE, Controller
from .workloads import (
    HASH_LABEL,
    adopt,
    by_controller,
    int_or_percent,
    orphans,
    owner_reference,
    template_hash,
)

COMPONENT = "deployment-controller"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# The Deployment's annotations its ReplicaSets do not get (deployment util's annotationsToSkip).
_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
_REVISION_HISTORY_CHARS = 256  # the controller's limit on the length of revision-history


def _replicas(rs: dict) -> int:
    return int(rs["spec"].get("replicas", 0))


def _available(rs: dict) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))


def _revision(rs: dict) -> int:
    value = (rs["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(value) if value.isdigit() else 0


def _template_of(rs: dict) -> dict:
    """The ReplicaSet's pod template less its pod-template-hash: what a Deployment template is compared to."""
    template = copy.deepcopy(rs["spec"]["template"])
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    return template


def _fenceposts(deployment: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate, resolved against spec.replicas; Recreate: (0, 0)."""
    spec = deployment["spec"]
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling, replicas = strategy.get("rollingUpdate") or {}, int(spec.get("replicas", 1))
    surge = int_or_percent(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


def _complete(deployment: dict) -> bool:
    """DeploymentComplete, on the status as last written: every replica updated and available."""
    status, replicas = deployment.get("status") or {}, int(deployment["spec"].get("replicas", 1))
    counts = (status.get("updatedReplicas"), status.get("replicas"), status.get("availableReplicas"))
    observed = int(status.get("observedGeneration") or 0) >= int(
        deployment["metadata"].get("generation") or 1
    )
    return counts == (replicas, replicas, replicas) and observed


def _replicas_annotations(deployment: dict) -> dict[str, str]:
    """desired-replicas and max-replicas (spec.replicas + maxSurge), which proportional scaling reads."""
    replicas = int(deployment["spec"].get("replicas", 1))
    return {DESIRED_REPLICAS: str(replicas), MAX_REPLICAS: str(replicas + _fenceposts(deployment)[0])}


class DeploymentController(Controller):
    watches = ("deployments", "replicasets")

    def __init__(self, cluster) -> None:
        super().__init__(cluster)
        self._progress: dict[str, tuple[tuple, float]] = {}  # uid -> (replica counts, simulated time seen)

    async def reconcile(self) -> float | None:
        # The rollout arithmetic records its own scaling and revisions on the objects as it goes: on
        # private copies, never on the shared views.
        every = copy_json(await self.cluster.list("replicasets"))
        replica_sets, orphaned = by_controller(every), orphans(every)
        wakes = []
        for deployment in copy_json(await self.cluster.list("deployments")):
            if deployment["metadata"].get("deletionTimestamp"):
                continue
            adopted = await adopt(self.cluster, "replicasets", deployment, orphaned)
            owned = sorted(
                replica_sets.get(deployment["metadata"]["uid"], []) + adopted,
                key=lambda rs: (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"]),
            )
            wake = await self._sync(deployment, owned)
            if wake is not None:
                wakes.append(wake)
        return min(wakes) if wakes else None

    async def _sync(self, deployment: dict, owned: list[dict]) -> float | None:
        spec = deployment["spec"]
        new = next((rs for rs in owned if _template_of(rs) == spec["template"]), None)
        olds = [rs for rs in owned if rs is not new]
        replicas = int(spec.get("replicas", 1))
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        new, created = await self._newest(deployment, new, olds, recreate)
        complete = _complete(deployment)
        if not spec.get("paused"):
            if recreate:
                await self._recreate(deployment, new, olds, replicas)
            elif new is not None:
                await self._roll(deployment, new, olds, replicas)
        if complete or spec.get("paused"):
            await self._cleanup(deployment, olds)
        return await self._status(deployment, new, olds, replicas, created)

    async def _newest(
        self, deployment: dict, new: dict | None, olds: list[dict], recreate: bool
    ) -> tuple[dict | None, bool]:
        """getNewReplicaSet: the current template's ReplicaSet (and whether it was made now), numbered
        as the newest revision, with the Deployment's annotations; the Deployment records its number.

        A paused Deployment makes none; Recreate makes it only once the old ReplicaSets have no pods.
        """
        next_revision = max((_revision(rs) for rs in olds), default=0) + 1
        draining = recreate and any(_replicas(rs) or (rs.get("status") or {}).get("replicas") for rs in olds)
        created = new is None and not deployment["spec"].get("paused") and not draining
        if created:
            new = await self._create_replica_set(deployment, next_revision)
        elif new is not None:
            await self._sync_annotations(deployment, new, next_revision)
        if new is None:
            return None, False
        if (deployment["metadata"].get("annotations") or {}).get(REVISION) != str(_revision(new)):
            await self._annotate(deployment, "deployments", {REVISION: str(_revision(new))})
        return new, created

    async def _create_replica_set(self, deployment: dict, revision: int) -> dict:
        """The ReplicaSet `{name}-{pod-template-hash}`. A name taken by another template is a hash
        collision: status.collisionCount goes up and the next hash is tried, as the real controller does."""
        meta, spec = deployment["metadata"], deployment["spec"]
        rt = self.cluster.rt("replicasets")
        collision_count = int((deployment.get("status") or {}).get("collisionCount") or 0)
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _NOT_COPIED}
        annotations.update({REVISION: str(revision), **_replicas_annotations(deployment)})
        while True:
            hash_ = template_hash(spec["template"], collision_count)
            template = copy.deepcopy(spec["template"])
            template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
            name = f"{meta['name']}-{hash_}"
            replica_set = {
                "metadata": {
                    "name": name,
                    "namespace": meta["namespace"],
                    "labels": dict(template["metadata"]["labels"]),
                    "annotations": annotations,
                    "ownerReferences": [owner_reference(deployment)],
                },
                "spec": {"replicas": 0, "selector": selector, "template": template},
            }
            try:
                return await self.cluster.store.create(rt, replica_set)
            except ApiError as error:
                if error.code != 409:
                    raise
            existing = await self.cluster.store.get(rt, meta["namespace"], name)
            owners = existing["metadata"].get("ownerReferences") or []
            mine = any(ref.get("controller") and ref.get("uid") == meta["uid"] for ref in owners)
            if mine and _template_of(existing) == spec["template"]:
                return existing
            collision_count += 1
            await self.cluster.patch_status("deployments", deployment, {"collisionCount": collision_count})

    async def _sync_annotations(self, deployment: dict, rs: dict, next_revision: int) -> None:
        """SetNewReplicaSetAnnotations: the Deployment's annotations, and the newest revision number.

        A ReplicaSet renumbered (a rollback to its template) keeps its former numbers in revision-history.
        """
        current = rs["metadata"].get("annotations") or {}
        changes = {
            k: v
            for k, v in (deployment["metadata"].get("annotations") or {}).items()
            if k not in _NOT_COPIED and current.get(k) != v
        }
        if _revision(rs) < next_revision:
            changes[REVISION] = str(next_revision)
            if current.get(REVISION):
                history = [r for r in current.get(REVISION_HISTORY, "").split(",") if r] + [current[REVISION]]
                while len(",".join(history)) > _REVISION_HISTORY_CHARS:
                    history.pop(0)
                changes[REVISION_HISTORY] = ",".join(history)
        if changes:
            await self._annotate(rs, "replicasets", changes)

    async def _annotate(self, obj: dict, resource: str, annotations: dict[str, str]) -> None:
        """Merge `annotations` into the object, and into the private copy this pass works on."""
        meta = obj["metadata"]
        await self.cluster.store.patch(
            self.cluster.rt(resource),
            meta["namespace"],
            meta["name"],
            MERGE,
            {"metadata": {"annotations": annotations}},
        )
        meta.setdefault("annotations", {}).update(annotations)

    async def _scale(self, deployment: dict, rs: dict, count: int) -> None:
        before = _replicas(rs)
        if count == before:
            return
        meta = rs["metadata"]
        body = {
            "metadata": {"annotations": _replicas_annotations(deployment)},
            "spec": {"replicas": count},
        }
        await self.cluster.store.patch(
            self.cluster.rt("replicasets"), meta["namespace"], meta["name"], MERGE, body
        )
        rs["spec"]["replicas"] = count
        direction = "up" if count > before else "down"
        await self.cluster.events.record(
            deployment,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {meta['name']} from {before} to {count}",
            component=COMPONENT,
        )

    async def _recreate(self, deployment: dict, new: dict | None, olds: list[dict], replicas: int) -> None:
        for rs in olds:
            await self._scale(deployment, rs, 0)
        if new is not None and all(int((rs.get("status") or {}).get("replicas", 0)) == 0 for rs in olds):
            await self._scale(deployment, new, replicas)

    async def _roll(self, deployment: dict, new: dict, olds: list[dict], replicas: int) -> None:
        surge, unavailable = _fenceposts(deployment)
        if not any(_replicas(rs) for rs in olds):
            await self._scale(deployment, new, replicas)
            return
        total = sum(_replicas(rs) for rs in [new, *olds])
        if _replicas(new) < replicas and total < replicas + surge:
            await self._scale(
                deployment, new, _replicas(new) + min(replicas + surge - total, replicas - _replicas(new))
            )
        elif _replicas(new) > replicas:
            await self._scale(deployment, new, replicas)
        min_available = replicas - unavailable
        new_unavailable = _replicas(new) - _available(new)
        budget = sum(_replicas(rs) for rs in [new, *olds]) - min_available - new_unavailable
        for rs in olds:  # unhealthy old replicas go first: they serve nobody
            cut = min(budget, _replicas(rs) - _available(rs))
            if cut > 0:
                await self._scale(deployment, rs, _replicas(rs) - cut)
                budget -= cut
        available = sum(min(_available(rs), _replicas(rs)) for rs in [new, *olds])
        budget = available - min_available
        for rs in olds:
            cut = min(_replicas(rs), budget)
            if cut > 0:
                await self._scale(deployment, rs, _replicas(rs) - cut)
                budget -= cut

    async def _cleanup(self, deployment: dict, olds: list[dict]) -> None:
        """cleanupDeployment: beyond revisionHistoryLimit, delete the oldest revisions that are scaled to zero."""
        alive = sorted(
            (rs for rs in olds if not rs["metadata"].get("deletionTimestamp")),
            key=lambda rs: (_revision(rs), rs["metadata"]["creationTimestamp"], rs["metadata"]["name"]),
        )
        limit = int(deployment["spec"].get("revisionHistoryLimit", 10))
        for rs in alive[: max(len(alive) - limit, 0)]:
            status = rs.get("status") or {}
            settled = int(status.get("observedGeneration") or 0) >= int(rs["metadata"].get("generation") or 1)
            if _replicas(rs) == 0 and not status.get("replicas") and settled:
                await self.cluster.delete("replicasets", rs)

    async def _status(
        self, deployment: dict, new: dict | None, olds: list[dict], replicas: int, created: bool
    ) -> float | None:
        every = [rs for rs in [new, *olds] if rs is not None]
        counts = {
            "replicas": sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in every),
            "updatedReplicas": int(((new or {}).get("status") or {}).get("replicas", 0)),
            "readyReplicas": sum(int((rs.get("status") or {}).get("readyReplicas", 0)) for rs in every),
            "availableReplicas": sum(_available(rs) for rs in every),
        }
        counts["unavailableReplicas"] = max(
            sum(_replicas(rs) for rs in every) - counts["availableReplicas"], 0
        )
        max_unavailable = min(_fenceposts(deployment)[1], replicas)
        complete = (
            counts["updatedReplicas"] == replicas
            and counts["replicas"] == replicas
            and counts["availableReplicas"] == replicas
            and new is not None
        )
        now, sim_now = self.cluster.clock.timestamp(), self.cluster.clock.now()
        uid = deployment["metadata"]["uid"]
        key = tuple(sorted(counts.items()))
        seen = self._progress.get(uid)
        if seen is None or seen[0] != key or complete:
            seen = self._progress[uid] = (key, sim_now)
        deadline = float(deployment["spec"].get("progressDeadlineSeconds", 600))
        # Before a Recreate makes its new ReplicaSet, the conditions speak of the Deployment.
        name = new["metadata"]["name"] if new is not None else ""
        subject = (
            f'ReplicaSet "{name}"' if new is not None else f'Deployment "{deployment["metadata"]["name"]}"'
        )
        if complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f"{subject} has successfully progressed.",
            )
        elif sim_now - seen[1] > deadline:
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f"{subject} has timed out progressing.",
            )
        elif created:
            progressing = ("True", "NewReplicaSetCreated", f'Created new replica set "{name}"')
        else:
            progressing = ("True", "ReplicaSetUpdated", f"{subject} is progressing.")
        available = counts["availableReplicas"] >= replicas - max_unavailable
        conditions = {
            "Available": ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            if available
            else ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
            "Progressing": progressing,
        }
        current = {c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []}
        rendered = []
        for type_, (status, reason, message) in conditions.items():
            old = current.get(type_)
            unchanged = old is not None and (old["status"], old.get("reason"), old.get("message")) == (
                status,
                reason,
                message,
            )
            rendered.append(
                {
                    "type": type_,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastUpdateTime": old["lastUpdateTime"] if unchanged else now,
                    "lastTransitionTime": old["lastTransitionTime"]
                    if old is not None and old["status"] == status
                    else now,
                }
            )
        status = {
            **counts,
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "conditions": rendered,
        }
        await self.cluster.sync_status("deployments", deployment, status)
        if complete or progressing[1] == "ProgressDeadlineExceeded":
            return None
        return seen[1] + deadline - sim_now + 0.1
