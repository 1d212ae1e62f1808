"""Failing workloads in any namespace, with any containers, for the config and dependency analyzer tests:
the same API objects as `scenarios.workload`, moved to a namespace, with kubelet statuses and events."""

from __future__ import annotations

import asyncio

from smart_sre.api.common import Trigger
from smart_sre.api.debugpolicy import Remediation
from smart_sre.investigation import investigation
from smart_sre.investigation.analyzers import candidates
from smart_sre.investigation.analyzers.base import Candidate
from smart_sre.investigation.evidence import Evidence, gather
from smart_sre.investigation.patch_safety import vet_patch
from smart_sre.investigation.redaction import Redactor
from smart_sre.investigation.tools.base import ToolContext
from smart_sre.k8s.cluster import Cluster
from smart_sre.k8s.owners import owner_chain
from smart_sre_inference.client import Inference

from .fakes import FakeCluster
from .scenarios import NODES, workload


def deployed(name: str, namespace: str, spec: dict, status: dict) -> tuple[dict, dict, dict]:
    """Deployment -> ReplicaSet -> Pod of `spec` in `namespace`, the pod with `status`."""
    objects = workload(name, spec, phase="Running", status=status, node_name="worker-1")
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    return objects


def waiting(container: str, reason: str, message: str = "", *, init: bool = False) -> dict:
    """A pod status where `container` waits with the kubelet's reason and message; others run."""
    entry = {
        "name": container,
        "ready": False,
        "restartCount": 0 if reason == "CreateContainerConfigError" else 4,
        "state": {"waiting": {"reason": reason, "message": message}},
        "lastState": {} if reason == "CreateContainerConfigError" else {"terminated": {"exitCode": 1}},
    }
    return {"initContainerStatuses" if init else "containerStatuses": [entry]}


def pod_event(pod: dict, reason: str, message: str, container: str | None = None) -> dict:
    """A kubelet event about the pod (about one of its containers, with its field path)."""
    involved = {"kind": "Pod", "name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"]}
    if container:
        involved["fieldPath"] = f"spec.containers{{{container}}}"
    return {
        "kind": "Event",
        "metadata": {
            "name": f"{pod['metadata']['name']}.{reason.lower()}",
            "namespace": involved["namespace"],
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": "Warning",
        "count": 3,
    }


def config(kind: str, name: str, namespace: str, data: dict[str, str]) -> dict:
    """A ConfigMap (or a Secret, its data as the API returns it: only the key names matter here)."""
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "data": data}


async def investigate(
    objects: list[dict],
    pod: dict,
    trigger: Trigger,
    logs: dict[str, str] | None = None,
    cluster: FakeCluster | None = None,
) -> tuple[FakeCluster, list[dict], Evidence, list[Candidate]]:
    """Gather the evidence for `pod` (logs: container -> previous run's log) and rank the candidates."""
    name = pod["metadata"]["name"]
    cluster = cluster or FakeCluster([*NODES, *objects])
    cluster.logs_by_run.update({(name, container, True): text for container, text in (logs or {}).items()})
    ctx = ToolContext(cluster, pod["metadata"]["namespace"], pod, Redactor())
    chain = await owner_chain(cluster, pod)
    evidence = await gather(ctx, chain, trigger)
    return cluster, chain, evidence, candidates(evidence)


async def vetted(cluster: FakeCluster, chain: list[dict], candidate: Candidate) -> None:
    """The candidate's fix passes every safety check under the default policy."""
    assert candidate.patch is not None, candidate.no_patch_reason
    await vet_patch(cluster, chain, candidate.patch.target, candidate.patch.operations, Remediation())


def on_sandbox(
    sandbox, pod: dict, trigger: Trigger, *, model: Inference | None = None, **options
) -> investigation.Conclusion:
    """The investigation of `pod` on the sandbox through the real Kubernetes client (no model unless
    one is given; `options` as `investigate` takes them, e.g. `policy=`)."""
    cluster = Cluster.from_config(str(sandbox.kubeconfig))
    try:
        return asyncio.run(investigation.investigate(cluster, model, pod, trigger, **options))
    finally:
        cluster.close()
