"""The inventory: names of what exists around the failing pod, which the step grammar turns into enums."""

from __future__ import annotations

from smart_sre.investigation.mentions import env_dependencies, host_ports
from smart_sre.investigation.tools.base import Inventory
from smart_sre.investigation.tools.objects import ref
from smart_sre.k8s.cluster import ClusterError, ClusterReader
from smart_sre.k8s.owners import pod_spec

# Enough names for any real investigation, few enough to keep the grammar small.
_MAX_NAMES = 40
_LISTED_KINDS = ("Service", "Endpoints", "ConfigMap", "Secret", "PersistentVolumeClaim")


def referenced_names(pod: dict) -> dict[str, set[str]]:
    """ConfigMaps, Secrets and PVCs the pod spec names, whether or not they exist."""
    spec = pod_spec(pod)
    refs: dict[str, set[str]] = {"ConfigMap": set(), "Secret": set(), "PersistentVolumeClaim": set()}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if ref := source.get("configMapKeyRef"):
                refs["ConfigMap"].add(ref.get("name", ""))
            if ref := source.get("secretKeyRef"):
                refs["Secret"].add(ref.get("name", ""))
        for source in container.get("envFrom") or []:
            if ref := source.get("configMapRef"):
                refs["ConfigMap"].add(ref.get("name", ""))
            if ref := source.get("secretRef"):
                refs["Secret"].add(ref.get("name", ""))
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            refs["ConfigMap"].add(volume["configMap"].get("name", ""))
        if "secret" in volume:
            refs["Secret"].add(volume["secret"].get("secretName", ""))
        if "persistentVolumeClaim" in volume:
            refs["PersistentVolumeClaim"].add(volume["persistentVolumeClaim"].get("claimName", ""))
    return {kind: {name for name in names if name} for kind, names in refs.items()}


async def take_inventory(cluster: ClusterReader, chain: list[dict], evidence_text: str) -> Inventory:
    """What exists in the pod's namespace (and the cluster's nodes), plus what the pod refers to."""
    pod = chain[0]
    namespace = pod["metadata"]["namespace"]
    spec = pod_spec(pod)
    objects: dict[str, set[str]] = {kind: set() for kind in _LISTED_KINDS}
    for obj in chain:
        objects.setdefault(obj.get("kind", "Pod"), set()).add(obj["metadata"]["name"])
    for kind in _LISTED_KINDS:
        try:
            items = await cluster.list(kind, namespace)
        except ClusterError as error:  # e.g. no RBAC to list Secrets: the pod's references still count
            if error.status != 403:
                raise
            items = []
        objects[kind].update(item["metadata"]["name"] for item in items[:_MAX_NAMES])
    for kind, names in referenced_names(pod).items():
        objects[kind].update(names)
    # Hosts the pod dials come first: they are what a step most likely needs to check.
    hosts = [dependency.host.split(".")[0] for dependency in env_dependencies(spec.get("containers") or [])]
    hosts += [host for host, _ in host_ports(evidence_text)]
    services = await cluster.list("Service", namespace)
    hosts += sorted(service["metadata"]["name"] for service in services[:_MAX_NAMES])
    nodes = sorted(n["metadata"]["name"] for n in (await cluster.list("Node"))[:_MAX_NAMES])
    refs = [ref(kind, name) for kind, names in objects.items() for name in sorted(names)]
    return Inventory(
        namespace=namespace,
        pod=pod["metadata"]["name"],
        containers=tuple(
            c["name"] for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        ),
        objects=tuple(refs + [ref("Node", node) for node in nodes]),
        nodes=tuple(nodes),
        hosts=tuple(dict.fromkeys(hosts)),
    )
