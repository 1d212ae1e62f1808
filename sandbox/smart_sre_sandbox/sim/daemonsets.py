"""The DaemonSet controller: one pod per eligible node, pinned there by node affinity for the scheduler.

Templates are versioned as ControllerRevisions (revisions.py); pods carry their revision's hash in the
`controller-revision-hash` label. A RollingUpdate replaces outdated pods as kube-controller-manager does:
with maxSurge 0, deleting at most `maxUnavailable` available ones at a time (unavailable old pods go at
once, they serve nobody); with maxSurge, starting the new pod beside the old one on up to `maxSurge`
nodes and deleting the old one when the new one is available. OnDelete replaces only deleted pods.
"""

from __future__ import annotations

from . import revisions
from .controller import Controller
from .endpoints import is_ready
from .revisions import POD_LABEL
from .scheduling import matches_node_affinity, untolerated_taint
from .workloads import active, adopt, by_controller, int_or_percent, orphans, pod_from_template

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


def _hash_of(obj: dict) -> str:
    return (obj["metadata"].get("labels") or {}).get(POD_LABEL, "")


def _oldest_first(pod: dict) -> tuple[str, str]:
    return (pod["metadata"].get("creationTimestamp", ""), pod["metadata"]["name"])


class DaemonSetController(Controller):
    watches = ("daemonsets", "pods", "nodes", "controllerrevisions")

    async def reconcile(self) -> float | None:
        pods, nodes = by_controller(await self.cluster.list("pods")), await self.cluster.list("nodes")
        every = await self.cluster.list(revisions.RESOURCE)
        owned_revisions, orphaned = by_controller(every), orphans(every)
        for ds in await self.cluster.list("daemonsets"):
            uid = ds["metadata"]["uid"]
            if not ds["metadata"].get("deletionTimestamp"):
                adopted = await adopt(self.cluster, revisions.RESOURCE, ds, orphaned)
                await self._sync(ds, pods.get(uid, []), nodes, owned_revisions.get(uid, []) + adopted)
        return None

    async def _sync(self, ds: dict, pods: list[dict], nodes: list[dict], owned_revisions: list[dict]) -> None:
        history = await revisions.record(self.cluster, ds, owned_revisions)
        hash_ = _hash_of(history.update)
        probe = {"metadata": {}, "spec": ds["spec"]["template"].get("spec") or {}}
        eligible = [
            n["metadata"]["name"]
            for n in nodes
            if untolerated_taint(probe, n) is None and matches_node_affinity(probe, n)
        ]
        on_node: dict[str, list[dict]] = {}
        for pod in sorted(active(pods), key=_oldest_first):
            on_node.setdefault(_pinned_node(pod), []).append(pod)
        for node in [n for n in on_node if n not in eligible]:
            for pod in on_node.pop(node):
                await self.cluster.delete("pods", pod)
        strategy = ds["spec"].get("updateStrategy") or {}
        doomed: list[dict] = []
        surge_nodes: list[str] = []
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            rolling = strategy.get("rollingUpdate") or {}
            max_surge = int_or_percent(rolling.get("maxSurge", 0), len(eligible), round_up=True)
            if max_surge:
                doomed, surge_nodes = _surge(on_node, hash_, max_surge)
            else:
                max_unavailable = int_or_percent(
                    rolling.get("maxUnavailable", 1), len(eligible), round_up=True
                )
                doomed = _replaceable(on_node, hash_, max_unavailable or 1)
        for pod in doomed:
            await self.cluster.delete("pods", pod)
            on_node[_pinned_node(pod)].remove(pod)
        for node in eligible:
            if not on_node.get(node) or node in surge_nodes:
                on_node.setdefault(node, []).append(await self._create(ds, node, hash_))
        await self._status(ds, history, hash_, [on_node[n][0] for n in eligible if on_node.get(n)], eligible)
        # cleanupHistory: beyond the limit, old revisions go oldest first, unless a pod still runs one.
        hashes = {_hash_of(p) for p in pods}
        live = {r["metadata"]["name"] for r in history.revisions if _hash_of(r) in hashes}
        live.add(history.update["metadata"]["name"])
        limit = int(ds["spec"].get("revisionHistoryLimit", 10))
        await revisions.prune(self.cluster, history.revisions, live, len(history.revisions) - 1 - limit)

    async def _status(
        self, ds: dict, history: revisions.History, hash_: str, oldest: list[dict], eligible: list[str]
    ) -> None:
        """Counts per node, of the oldest pod on each eligible node, as updateDaemonSetStatus counts."""
        ready = sum(1 for p in oldest if is_ready(p))
        status = {
            "desiredNumberScheduled": len(eligible),
            "currentNumberScheduled": len(oldest),
            "updatedNumberScheduled": sum(1 for p in oldest if _hash_of(p) == hash_),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": (len(eligible) - ready) or None,
            "numberMisscheduled": 0,
            "collisionCount": history.collision_count or None,
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        await self.cluster.sync_status("daemonsets", ds, status)

    async def _create(self, ds: dict, node: str, hash_: str) -> dict:
        pod = pod_from_template(ds, ds["spec"]["template"], generate_name=f"{ds['metadata']['name']}-")
        pod["metadata"]["labels"][POD_LABEL] = hash_
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
        return await self.cluster.create_pod(ds, pod, COMPONENT)


def _split(pods: list[dict], hash_: str) -> tuple[dict | None, dict | None]:
    """The node's (new, old) pods: the first of the current revision's and of any other."""
    new = next((p for p in pods if _hash_of(p) == hash_), None)
    old = next((p for p in pods if _hash_of(p) != hash_), None)
    return new, old


def _replaceable(on_node: dict[str, list[dict]], hash_: str, max_unavailable: int) -> list[dict]:
    """Without surge: every unavailable old pod, and available ones while fewer than maxUnavailable
    nodes are unavailable (a node with no pod or two counts as unavailable)."""
    unavailable, broken, candidates = 0, [], []
    for pods in on_node.values():
        new, old = _split(pods, hash_)
        if old is None:
            unavailable += new is None or not is_ready(new)
        elif new is not None:  # the manage loop settles a node with two pods first
            unavailable += 1
        elif not is_ready(old):
            broken.append(old)
        elif unavailable < max_unavailable:
            candidates.append(old)
    return broken + candidates[: max(max_unavailable - unavailable, 0)]


def _surge(on_node: dict[str, list[dict]], hash_: str, max_surge: int) -> tuple[list[dict], list[str]]:
    """With surge: (old pods to delete, nodes to start a new pod on beside the old one)."""
    surging, doomed, allowed, candidates = 0, [], [], []
    for node, pods in on_node.items():
        new, old = _split(pods, hash_)
        if old is None:
            continue
        if new is None and not is_ready(old):
            allowed.append(node)
        elif new is None:
            if surging < max_surge:
                candidates.append(node)
        elif not is_ready(new):
            surging += 1
        else:
            doomed.append(old)
    return doomed, allowed + candidates[: max(max_surge - surging, 0)]
