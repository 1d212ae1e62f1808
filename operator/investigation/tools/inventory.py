"""The inventory: names of what exists around the failing pod, which the step grammar turns into enums."""

from __future__ import annotations

from smart_sre.investigation.evidence import Evidence, referenced_names
from smart_sre.investigation.mentions import host_ports, service_host
from smart_sre.investigation.tools.base import Inventory
from smart_sre.investigation.tools.objects import ref
from smart_sre.k8s.cluster import ClusterError, ClusterReader
from smart_sre.k8s.owners import pod_spec

# Enough names for any real investigation, few enough to keep the grammar small.
_MAX_NAMES = 40


async def take_inventory(cluster: ClusterReader, evidence: Evidence) -> Inventory:
    """What exists in the pod's namespace (and the cluster's nodes), plus what the pod refers to.

    The evidence already listed most of it; only PersistentVolumeClaims are listed here."""
    pod = evidence.pod
    spec = pod_spec(pod)
    try:
        claims = [
            claim["metadata"]["name"]
            for claim in await cluster.list("PersistentVolumeClaim", evidence.namespace)
        ]
    except ClusterError as error:  # no RBAC to list them: the pod's references still count
        if error.status != 403:
            raise
        claims = []
    services = [service["metadata"]["name"] for service in evidence.services]
    listed = {
        "Service": services,
        "Endpoints": list(evidence.endpoints),
        "ConfigMap": list(evidence.config_keys),
        "Secret": list(evidence.secret_key_names),
        "PersistentVolumeClaim": claims,
    }
    objects: dict[str, set[str]] = {kind: set(names[:_MAX_NAMES]) for kind, names in listed.items()}
    for obj in evidence.chain:
        objects.setdefault(obj.get("kind", "Pod"), set()).add(obj["metadata"]["name"])
    for kind, names in referenced_names(pod).items():
        objects[kind].update(names)
    # The Services the pod's env names come first: they are what a step most likely needs to check;
    # then every host the first observation shows the model, then the Services that exist.
    hosts = [service_host(dependency.host, evidence.namespace) for dependency in evidence.dependencies]
    hosts += [host for host, _ in host_ports(evidence.observation)]
    hosts += sorted(services[:_MAX_NAMES])
    nodes = sorted(node["metadata"]["name"] for node in evidence.nodes[:_MAX_NAMES])
    refs = [ref(kind, name) for kind, names in objects.items() for name in sorted(names)]
    return Inventory(
        namespace=evidence.namespace,
        pod=pod["metadata"]["name"],
        containers=tuple(
            c["name"] for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        ),
        objects=tuple(refs + [ref("Node", node) for node in nodes]),
        nodes=tuple(nodes),
        hosts=tuple(dict.fromkeys(hosts)),
    )
