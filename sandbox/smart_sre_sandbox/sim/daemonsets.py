"""The DaemonSet controller: one pod per eligible node, pinned there by node affinity for the scheduler."""

from __future__ import annotations

from .controller import Controller
from .scheduling import matches_node_affinity, untolerated_taint
from .workloads import active, by_controller, pod_from_template, ready_count, template_hash

COMPONENT = "daemonset-controller"


def _pinned_node(pod: dict) -> str:
    terms = (
        ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms") or []
    for term in terms:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name":
                return (field.get("values") or [""])[0]
    return pod["spec"].get("nodeName", "")


class DaemonSetController(Controller):
    watches = ("daemonsets", "pods", "nodes")

    async def reconcile(self) -> float | None:
        pods, nodes = by_controller(await self.cluster.list("pods")), await self.cluster.list("nodes")
        for ds in await self.cluster.list("daemonsets"):
            if not ds["metadata"].get("deletionTimestamp"):
                await self._sync(ds, active(pods.get(ds["metadata"]["uid"], [])), nodes)
        return None

    async def _sync(self, ds: dict, owned: list[dict], nodes: list[dict]) -> None:
        revision = template_hash(ds["spec"]["template"])
        probe = {"metadata": {}, "spec": ds["spec"]["template"].get("spec") or {}}
        eligible = [
            n["metadata"]["name"]
            for n in nodes
            if untolerated_taint(probe, n) is None and matches_node_affinity(probe, n)
        ]
        placed = {_pinned_node(p): p for p in owned}
        for pod in owned:
            node = _pinned_node(pod)
            outdated = (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != revision
            if node not in eligible or outdated:
                await self.cluster.delete("pods", pod)
                placed.pop(node, None)
        for node in eligible:
            if node in placed:
                continue
            pod = pod_from_template(ds, ds["spec"]["template"], generate_name=f"{ds['metadata']['name']}-")
            pod["metadata"]["labels"]["controller-revision-hash"] = revision
            pod["spec"]["affinity"] = {
                **(pod["spec"].get("affinity") or {}),
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                        ]
                    }
                },
            }
            await self.cluster.create_pod(ds, pod, COMPONENT)
        current = [p for p in owned if _pinned_node(p) in eligible]
        ready = ready_count(current)
        status = {
            "desiredNumberScheduled": len(eligible),
            "currentNumberScheduled": len(current),
            "updatedNumberScheduled": sum(
                1
                for p in current
                if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == revision
            ),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberMisscheduled": 0,
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        await self.cluster.sync_status("daemonsets", ds, status)
