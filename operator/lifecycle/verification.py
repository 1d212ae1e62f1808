"""After a patch: did the workload really recover? Verified or NotVerified, with what was seen.

A patch that applies is not yet a fix. The rollout is watched (polled) for a verification window;
it is Verified as soon as the workload's rollout is complete and all its pods are Ready with no
failure trigger, NotVerified if the window ends first. A rollout is complete as `kubectl rollout status`
judges it: under OnDelete the controller replaces only deleted pods, so healthy pods of an older
revision count (the approver deleted the stuck ones, smart_sre.k8s.stuck_pods); a StatefulSet's
partitioned RollingUpdate needs only the pods from the partition up updated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smart_sre.api.common import Trigger
from smart_sre.api.diagnosticreport import PatchTarget, VerificationResult
from smart_sre.k8s.cluster import ClusterReader
from smart_sre.k8s.stuck_pods import partition, pods_of
from smart_sre.lifecycle.triggers import evaluate

ALL_TRIGGERS = frozenset(Trigger)


@dataclass(frozen=True)
class Outcome:
    result: VerificationResult
    message: str


def _rollout_pending(kind: str, workload: Mapping[str, Any]) -> str | None:
    """Why a Deployment/StatefulSet/DaemonSet rollout is not complete, or None when it is."""
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    generation = (workload.get("metadata") or {}).get("generation") or 0
    if (status.get("observedGeneration") or 0) < generation:
        return f"the controller has not observed generation {generation} yet"
    if kind == "DaemonSet":
        wanted, updated = status.get("desiredNumberScheduled") or 0, status.get("updatedNumberScheduled") or 0
        ready = status.get("numberReady") or 0
    else:
        wanted = spec.get("replicas", 1)
        updated, ready = status.get("updatedReplicas") or 0, status.get("readyReplicas") or 0
        if kind == "Deployment":
            ready = min(ready, status.get("availableReplicas") or 0)
    updated_from = partition(workload) if kind == "StatefulSet" else 0
    on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    to_update = 0 if on_delete else max(wanted - updated_from, 0)
    if updated < to_update or ready < wanted:
        return f"{updated}/{to_update} updated, {ready}/{wanted} ready"
    return None


def _pod_problem(pod: Mapping[str, Any]) -> str | None:
    name = pod["metadata"]["name"]
    verdict = evaluate(pod, ALL_TRIGGERS, pending_grace=timedelta(0), now=datetime.now(UTC))
    if verdict.detection is not None:
        return f"pod {name}: {verdict.detection.reason}"
    ready = any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in (pod.get("status") or {}).get("conditions") or ()
    )
    return None if ready else f"pod {name} is not Ready"


async def health(cluster: ClusterReader, target: PatchTarget) -> str | None:
    """Why the target is not healthy now, or None when it is."""
    kind, namespace, name = target.kind, target.namespace, target.name
    workload = await cluster.get(kind, namespace, name)
    if workload is None:
        return f"{kind}/{name} no longer exists"
    if kind == "Pod":
        return _pod_problem(workload)
    if pending := _rollout_pending(kind, workload):
        return f"{kind}/{name} rollout in progress: {pending}"
    live = [pod for pod in await pods_of(cluster, workload) if not pod["metadata"].get("deletionTimestamp")]
    if not live:
        return f"{kind}/{name} has no pods"
    for pod in live:
        if problem := _pod_problem(pod):
            return problem
    return None


async def verify(
    cluster: ClusterReader, target: PatchTarget, *, window: timedelta, poll_seconds: float = 2.0
) -> Outcome:
    """Poll the target's health until it is healthy (Verified) or the window ends (NotVerified)."""
    deadline = time.monotonic() + window.total_seconds()
    while True:
        problem = await health(cluster, target)
        if problem is None:
            return Outcome(
                VerificationResult.VERIFIED,
                f"{target.kind}/{target.name} rolled out and all pods are Ready",
            )
        if time.monotonic() >= deadline:
            return Outcome(
                VerificationResult.NOT_VERIFIED,
                f"not healthy after {int(window.total_seconds())}s: {problem}",
            )
        await asyncio.sleep(poll_seconds)
