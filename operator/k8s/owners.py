"""A pod's owner chain (Pod → ReplicaSet → Deployment, StatefulSet, DaemonSet, Job) and where each kind
keeps its pod template, so a fix can be aimed at the object a human actually manages.

The chain is what a suggested patch may target (investigation.patch_safety, at analysis and again at
apply), so it is followed only along the edges Kubernetes' controllers create, and each owner must be
the very object the reference names by uid: a pod that merely claims an owner gets no owner.
"""

from __future__ import annotations

from smart_sre.k8s.cluster import ClusterReader

# JSON Pointer of the pod spec inside each kind that carries one.
POD_SPEC_POINTER: dict[str, str] = {
    "Pod": "/spec",
    "ReplicaSet": "/spec/template/spec",
    "Deployment": "/spec/template/spec",
    "StatefulSet": "/spec/template/spec",
    "DaemonSet": "/spec/template/spec",
    "Job": "/spec/template/spec",
}

# Which kinds may control which: the edges the workload controllers create. None has a cycle.
_CONTROLLER_KINDS: dict[str, frozenset[str]] = {
    "Pod": frozenset({"ReplicaSet", "StatefulSet", "DaemonSet", "Job"}),
    "ReplicaSet": frozenset({"Deployment"}),
}


def controller_ref(obj: dict) -> dict | None:
    """The ownerReference with controller=true (or the only one)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    for ref in refs:
        if ref.get("controller"):
            return ref
    return refs[0] if len(refs) == 1 else None


async def owner_chain(cluster: ClusterReader, pod: dict) -> list[dict]:
    """[pod, its controller, that one's controller, ...], stopping at a kind the agent does not know,
    an owner that is gone, or one whose uid is not the uid its dependent references."""
    namespace = pod["metadata"].get("namespace")
    chain = [pod]
    while (ref := controller_ref(chain[-1])) is not None:
        kind = ref.get("kind")
        if kind not in _CONTROLLER_KINDS.get(chain[-1].get("kind", "Pod"), frozenset()):
            break
        owner = await cluster.get(kind, namespace, ref.get("name", ""))
        if owner is None or not ref.get("uid") or owner["metadata"].get("uid") != ref["uid"]:
            break
        owner.setdefault("kind", kind)
        chain.append(owner)
    return chain


def pod_spec(obj: dict) -> dict:
    """The pod spec of a Pod or of a workload's template."""
    spec = obj.get("spec") or {}
    if obj.get("kind", "Pod") == "Pod":
        return spec
    return ((spec.get("template") or {}).get("spec")) or {}
