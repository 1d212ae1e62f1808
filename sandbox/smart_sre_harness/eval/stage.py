"""One scenario on a fresh sandbox: start it, wait for the failure it claims, judge recovery. The task
runner (tasks.py) starts its sandboxes (`fresh_sandbox`) and waits for a failure (`first_failure`) here too.

Only the sandbox decides: a workload has recovered when all its pods are Ready, as many as it wants,
and they stay Ready through a check window of simulated time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smart_sre.api.common import Trigger
from smart_sre.lifecycle.triggers import Detection, evaluate
from smart_sre_harness.eval.scenarios import WATCH_LABEL, Scenario, identity
from smart_sre_sandbox.cluster import NodeSpec, Sandbox, scenario_nodes

REPO_CRDS = Path(__file__).resolve().parents[3] / "crds"
TIME_SCALE = 30.0  # a 5-minute back-off in 10 s; probes and grace periods pass just as fast
CHECK_WINDOW = 90.0  # simulated seconds a fixed workload must stay Ready
FAILURE_TIMEOUT = 60.0  # real seconds for the scenario's failure to show (or a revision to roll out)
SETTLE_TIMEOUT = 10.0  # real seconds the rest of a scenario's cluster gets to run before the watched change
ROLLED_OUT_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})


@dataclass(frozen=True)
class Failure:
    pod: dict
    detection: Detection


def crds_dir() -> Path:
    """crds/ of the source tree (the eval runs from a checkout, like the demo)."""
    if not REPO_CRDS.is_dir():
        raise FileNotFoundError(
            f"CRD directory {REPO_CRDS} not found: run smart-sre eval from a source checkout"
        )
    return REPO_CRDS


@asynccontextmanager
async def fresh_sandbox(
    nodes: list[NodeSpec] | None = None, *, time_scale: float = TIME_SCALE
) -> AsyncIterator[Sandbox]:
    """A started sandbox with `nodes` (or the defaults) and smart-sre's CRDs, stopped on the way out."""
    sandbox = Sandbox(nodes=nodes, time_scale=time_scale, crds_dir=crds_dir())
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


@asynccontextmanager
async def sandbox_for(scenario: Scenario, *, time_scale: float = TIME_SCALE) -> AsyncIterator[Sandbox]:
    """A fresh sandbox with the scenario's nodes (or the defaults) and its objects. A file that gives an
    object more than once gives its history: each revision is applied once the workloads of the one
    before have rolled out, so the failing revision has a healthy one before it, as after a deploy."""
    async with fresh_sandbox(scenario_nodes([scenario.path]) or None, time_scale=time_scale) as sandbox:
        rounds = scenario.revisions()
        watched = {identity(document) for document in scenario.watched()}
        for number, documents in enumerate(rounds, start=1):
            if number == len(rounds):  # the rest of the cluster runs before the watched workloads change
                rest = [d for d in documents if identity(d) not in watched]
                await sandbox.apply(rest)
                await _rolled_out(sandbox, scenario, rest, within=SETTLE_TIMEOUT, required=False)
                documents = [d for d in documents if identity(d) in watched]
            await sandbox.apply(documents)
            if number < len(rounds):
                await _rolled_out(sandbox, scenario, documents)
        yield sandbox


def _rollout_complete(workload: dict) -> bool:
    """What `kubectl rollout status` waits for: the controller saw this generation, and every replica
    (every scheduled node, for a DaemonSet) runs the newest template and is available."""
    status, generation = workload.get("status") or {}, workload["metadata"].get("generation", 1)
    if int(status.get("observedGeneration") or 0) < int(generation):
        return False
    if workload["kind"] == "DaemonSet":
        wanted = status.get("desiredNumberScheduled")
        return (
            wanted is not None
            and status.get("updatedNumberScheduled") == status.get("numberAvailable") == wanted
        )
    wanted = int(workload["spec"].get("replicas", 1))
    counts = (
        status.get("updatedReplicas") or 0,
        status.get("availableReplicas") or 0,
        status.get("replicas") or 0,
    )
    return counts == (wanted, wanted, wanted)


async def _rolled_out(
    sandbox: Sandbox,
    scenario: Scenario,
    documents: list[dict],
    within: float = FAILURE_TIMEOUT,
    *,
    required: bool = True,
) -> None:
    """Wait until every workload of `documents` has rolled out; TimeoutError naming those that did not,
    unless not `required` (a dependency a scenario keeps down on purpose)."""
    workloads = [d for d in documents if d["kind"] in ROLLED_OUT_KINDS]
    deadline = time.monotonic() + within
    while True:
        pending = []
        for document in workloads:
            if not _rollout_complete(await _live(sandbox, document)):
                pending.append(f"{document['kind']}/{document['metadata']['name']}")
        if not pending:
            return
        if time.monotonic() > deadline:
            if not required:
                return
            raise TimeoutError(
                f"{scenario.path.name}: {', '.join(pending)} did not roll out within {within:.0f}s, "
                "so its next revision was not applied: an earlier revision of a scenario must run healthy"
            )
        await asyncio.sleep(0.2)


async def watched_pods(sandbox: Sandbox, scenario: Scenario) -> list[dict]:
    rt = sandbox.store.resource("pods")
    selector = "=".join(WATCH_LABEL)
    pods: list[dict] = []
    for namespace in scenario.namespaces:
        items, _ = await sandbox.store.list(rt, namespace, label_selector=selector)
        pods += [p for p in items if not p["metadata"].get("deletionTimestamp")]
    return pods


def detect(pod: dict) -> Detection | None:
    verdict = evaluate(pod, list(Trigger), pending_grace=timedelta(0), now=datetime.now(UTC))
    return verdict.detection


async def wait_for_failure(
    sandbox: Sandbox, scenario: Scenario, within: float = FAILURE_TIMEOUT
) -> Failure | None:
    """The first watched pod showing the scenario's trigger; None when it does not show in time."""
    return await first_failure(
        lambda: watched_pods(sandbox, scenario), scenario.spec.expected.trigger, within=within
    )


async def first_failure(
    pods: Callable[[], Awaitable[list[dict]]], wanted: Trigger | None, *, within: float = FAILURE_TIMEOUT
) -> Failure | None:
    """The first of `pods` (listed again every poll) to show `wanted`, or any trigger when None;
    None when none shows in `within` real seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for pod in await pods():
            detection = detect(pod)
            if detection is not None and wanted in (None, detection.trigger):
                return Failure(pod, detection)
        await asyncio.sleep(0.2)
    return None


async def observed_triggers(sandbox: Sandbox, scenario: Scenario) -> list[str]:
    """What the watched pods show now, for error messages."""
    return sorted(
        {
            f"{p['metadata']['name']}: {d.trigger if (d := detect(p)) else p.get('status', {}).get('phase')}"
            for p in await watched_pods(sandbox, scenario)
        }
    )


async def _live(sandbox: Sandbox, document: dict) -> dict:
    """The workload of a scenario document as the API server has it now."""
    rt = sandbox.store.resource(document["kind"].lower() + "s")
    return await sandbox.store.get(
        rt, document["metadata"].get("namespace", "default"), document["metadata"]["name"]
    )


async def _wanted_replicas(sandbox: Sandbox, scenario: Scenario) -> int:
    total = 0
    for document in scenario.watched():
        if document["kind"] == "Pod":
            total += 1
            continue
        live = await _live(sandbox, document)
        if document["kind"] == "DaemonSet":  # one pod per node it may run on
            total += int((live.get("status") or {}).get("desiredNumberScheduled") or 1)
        else:
            total += int((live.get("spec") or {}).get("replicas", 1))
    return total


def _ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def healthy(sandbox: Sandbox, scenario: Scenario) -> bool:
    """Every watched pod Ready, and as many as the workloads want."""
    pods = await watched_pods(sandbox, scenario)
    return bool(pods) and all(map(_ready, pods)) and len(pods) >= await _wanted_replicas(sandbox, scenario)


async def recovered(
    sandbox: Sandbox, scenario: Scenario, *, within: float, window: float = CHECK_WINDOW
) -> bool:
    """The workload becomes healthy within `within` real seconds and stays so for `window` simulated ones."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await healthy(sandbox, scenario):
            until = time.monotonic() + sandbox.clock.real_seconds(window)
            while time.monotonic() < until:
                await asyncio.sleep(0.2)
                if not await healthy(sandbox, scenario):
                    break
            else:
                return True
        await asyncio.sleep(0.2)
    return False
