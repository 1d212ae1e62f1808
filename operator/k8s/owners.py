"""A pod's owner chain (Pod → ReplicaSet → Deployment, StatefulSet, DaemonSet, Job) and where each kind
keeps its pod template, so a fix can be aimed at the object a human actually manages."""

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

# Owner chains are short; the bound stops a cycle of ownerReferences from looping forever.
_MAX_DEPTH = 5


def controller_ref(obj: dict) -> dict | None:
    """The ownerReference with controller=true (or the only one)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    for ref in refs:
        if ref.get("controller"):
            return ref
    return refs[0] if len(refs) == 1 else None


async def owner_chain(cluster: ClusterReader, pod: dict) -> list[dict]:
    """[pod, its controller, that one's controller, ...], stopping at kinds the agent does not know."""
    namespace = pod["metadata"].get("namespace")
    chain = [pod]
    seen = {pod["metadata"].get("uid")}
    while len(chain) < _MAX_DEPTH:
        ref = controller_ref(chain[-1])
        if ref is None or ref.get("kind") not in POD_SPEC_POINTER:
            break
        owner = await cluster.get(ref["kind"], namespace, ref["name"])
        if owner is None or owner["metadata"].get("uid") in seen:
            break
        owner.setdefault("kind", ref["kind"])
        seen.add(owner["metadata"].get("uid"))
        chain.append(owner)
    return chain


def pod_spec(obj: dict) -> dict:
    """The pod spec of a Pod or of a workload's template."""
    spec = obj.get("spec") or {}
    if obj.get("kind", "Pod") == "Pod":
        return spec
    return ((spec.get("template") or {}).get("spec")) or {}
