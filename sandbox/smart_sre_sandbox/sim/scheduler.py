"""kube-scheduler: binds pending pods to nodes (decisions in scheduling.py) and reports the ones it cannot."""

from __future__ import annotations

import asyncio

from .controller import Controller
from .scheduling import Placement, is_terminal, schedule

COMPONENT = "default-scheduler"
# An unschedulable pod is tried again when the cluster changes, or after this long anyway
# (kube-scheduler's podMaxInUnschedulablePodsDuration).
RETRY_SECONDS = 300.0


class Scheduler(Controller):
    watches = ("pods", "nodes", "persistentvolumeclaims")

    def __init__(self, cluster) -> None:
        super().__init__(cluster)
        self._attempts: dict[str, tuple[tuple, float]] = {}  # pod uid -> (cluster signature, retry at)

    async def reconcile(self) -> float | None:
        cluster, now = self.cluster, self.cluster.clock.now()
        pods = await cluster.list("pods")
        nodes = [n for n in await cluster.list("nodes") if not n["metadata"].get("deletionTimestamp")]
        claims = await cluster.list("persistentvolumeclaims")
        pending = sorted(
            (
                p
                for p in pods
                if not p["spec"].get("nodeName")
                and not p["metadata"].get("deletionTimestamp")
                and p["spec"].get("schedulerName", COMPONENT) == COMPONENT
                and not is_terminal(p)
            ),
            key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]),
        )
        live = {p["metadata"]["uid"] for p in pending}
        self._attempts = {uid: attempt for uid, attempt in self._attempts.items() if uid in live}
        placement = Placement(nodes, pods)
        for pod in pending:
            # A burst of new pods makes a long pass: let the API server answer between decisions, as a
            # real scheduler runs beside it. A pod deleted meanwhile fails its binding and the pass.
            await asyncio.sleep(0)
            namespace = pod["metadata"]["namespace"]
            own_claims = {c["metadata"]["name"]: c for c in claims if c["metadata"]["namespace"] == namespace}
            previous = self._attempts.get(pod["metadata"]["uid"])
            if (
                previous is not None
                and now < previous[1]
                and previous[0] == _signature(pod, placement, own_claims)
            ):
                continue
            decision = schedule(pod, placement, own_claims)
            if decision.node is not None:
                await self._bind(pod, decision.node)
                placement.add(pod, decision.node)
                self._attempts.pop(pod["metadata"]["uid"], None)
            else:
                await self._unschedulable(pod, decision.message)
                signature = _signature(pod, placement, own_claims)
                self._attempts[pod["metadata"]["uid"]] = (signature, now + RETRY_SECONDS)
        retries = [retry for _, retry in self._attempts.values()]
        return min(retries) - now if retries else None

    async def _bind(self, pod: dict, node: str) -> None:
        meta = pod["metadata"]
        await self.cluster.store.bind(meta["namespace"], meta["name"], node)
        await self.cluster.events.record(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
            component=COMPONENT,
        )

    async def _unschedulable(self, pod: dict, message: str) -> None:
        conditions = (pod.get("status") or {}).get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if current is None or current.get("message") != message:
            condition = _condition("False", self.cluster.clock.timestamp(), "Unschedulable", message)
            await self.cluster.patch_status("pods", pod, {"conditions": [condition]})
        await self.cluster.events.record(pod, "Warning", "FailedScheduling", message, component=COMPONENT)


def _condition(status: str, now: str, reason: str, message: str) -> dict:
    return {
        "type": "PodScheduled",
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _signature(pod: dict, placement: Placement, claims: dict[str, dict]) -> tuple:
    """What a scheduling decision depends on; an unschedulable pod is retried early when it changes."""
    return (
        pod["metadata"].get("generation"),
        placement.signature(),
        tuple(sorted((name, (c.get("status") or {}).get("phase", "")) for name, c in claims.items())),
    )
