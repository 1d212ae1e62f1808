"""The Deployment controller: one ReplicaSet per pod template (named by its hash), rolled by the strategy.

RollingUpdate follows kube-controller-manager's arithmetic (maxSurge rounds up, maxUnavailable down,
unhealthy old replicas are cleaned up first), so a fixed template replaces crash-looping pods only
once new pods are available, and a broken new template never takes the old healthy pods down.
"""

from __future__ import annotations

import copy
import math

from ..objects import copy_json
from .controller import MERGE, Controller
from .workloads import HASH_LABEL, by_controller, owner_reference, template_hash

COMPONENT = "deployment-controller"
REVISION = "deployment.kubernetes.io/revision"


def int_or_percent(value: int | str | None, total: int, *, round_up: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    fraction = float(str(value).rstrip("%")) / 100 * total
    return math.ceil(fraction) if round_up else math.floor(fraction)


def _replicas(rs: dict) -> int:
    return int(rs["spec"].get("replicas", 0))


def _available(rs: dict) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))


def _revision(rs: dict) -> int:
    value = (rs["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(value) if value.isdigit() else 0


class DeploymentController(Controller):
    watches = ("deployments", "replicasets")

    def __init__(self, cluster) -> None:
        super().__init__(cluster)
        self._progress: dict[str, tuple[tuple, float]] = {}  # uid -> (replica counts, simulated time seen)

    async def reconcile(self) -> float | None:
        # The rollout arithmetic records its own scaling and revisions on the objects as it goes: on
        # private copies, never on the shared views.
        replica_sets = by_controller(copy_json(await self.cluster.list("replicasets")))
        wakes = []
        for deployment in copy_json(await self.cluster.list("deployments")):
            if deployment["metadata"].get("deletionTimestamp"):
                continue
            owned = sorted(
                replica_sets.get(deployment["metadata"]["uid"], []),
                key=lambda rs: (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"]),
            )
            wake = await self._sync(deployment, owned)
            if wake is not None:
                wakes.append(wake)
        return min(wakes) if wakes else None

    async def _sync(self, deployment: dict, owned: list[dict]) -> float | None:
        spec = deployment["spec"]
        hash_ = template_hash(spec["template"])
        new = next(
            (rs for rs in owned if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == hash_), None
        )
        olds = [rs for rs in owned if rs is not new]
        replicas = int(spec.get("replicas", 1))
        created, latest = False, max((_revision(rs) for rs in owned), default=0)
        if new is None and not spec.get("paused"):
            new = await self._create_replica_set(deployment, hash_, latest + 1)
            owned.append(new)
            created = True
        elif new is not None and _revision(new) < latest:
            # A rollback: the old template's ReplicaSet becomes the newest revision.
            await self._set_revision(deployment, new, latest + 1)
        if new is not None and not spec.get("paused"):
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                await self._recreate(deployment, new, olds, replicas)
            else:
                await self._roll(deployment, new, olds, replicas)
            await self._cleanup(deployment, olds)
        return await self._status(deployment, new, olds, replicas, created)

    async def _create_replica_set(self, deployment: dict, hash_: str, revision: int) -> dict:
        meta = deployment["metadata"]
        template = copy.deepcopy(deployment["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
        selector = copy.deepcopy(deployment["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        replica_set = {
            "metadata": {
                "name": f"{meta['name']}-{hash_}",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(deployment["spec"].get("replicas", 1)),
                    "deployment.kubernetes.io/max-replicas": str(deployment["spec"].get("replicas", 1)),
                },
                "ownerReferences": [owner_reference(deployment)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        created = await self.cluster.store.create(self.cluster.rt("replicasets"), replica_set)
        await self._set_revision(deployment, None, revision)
        return created

    async def _set_revision(self, deployment: dict, rs: dict | None, revision: int) -> None:
        """Record `revision` on the Deployment (and on a reused ReplicaSet), where kubectl rollout history reads it."""
        body = {"metadata": {"annotations": {REVISION: str(revision)}}}
        targets = [("deployments", deployment)] + ([("replicasets", rs)] if rs is not None else [])
        for name, obj in targets:
            meta = obj["metadata"]
            await self.cluster.store.patch(
                self.cluster.rt(name), meta["namespace"], meta["name"], MERGE, body
            )
            meta.setdefault("annotations", {})[REVISION] = str(revision)

    async def _scale(self, deployment: dict, rs: dict, count: int) -> None:
        before = _replicas(rs)
        if count == before:
            return
        meta = rs["metadata"]
        body = {
            "metadata": {
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(deployment["spec"].get("replicas", 1))
                }
            },
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

    async def _recreate(self, deployment: dict, new: dict, olds: list[dict], replicas: int) -> None:
        for rs in olds:
            await self._scale(deployment, rs, 0)
        if all(int((rs.get("status") or {}).get("replicas", 0)) == 0 for rs in olds):
            await self._scale(deployment, new, replicas)

    async def _roll(self, deployment: dict, new: dict, olds: list[dict], replicas: int) -> None:
        rolling = (deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        surge = int_or_percent(rolling.get("maxSurge", "25%"), replicas, round_up=True)
        unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
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
        limit = int(deployment["spec"].get("revisionHistoryLimit", 10))
        idle = [rs for rs in olds if _replicas(rs) == 0 and not (rs.get("status") or {}).get("replicas")]
        for rs in idle[: max(len(idle) - limit, 0)]:
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
        rolling = (deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        max_unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
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
        name = (new or {}).get("metadata", {}).get("name", "")
        if complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
            )
        elif sim_now - seen[1] > deadline:
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{name}" has timed out progressing.',
            )
        elif created:
            progressing = ("True", "NewReplicaSetCreated", f'Created new replica set "{name}"')
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.')
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
