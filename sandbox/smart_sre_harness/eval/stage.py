"""One scenario on a fresh sandbox: start it, wait for the failure it claims, judge recovery.

Only the sandbox decides: a workload has recovered when all its pods are Ready, as many as it wants,
and they stay Ready through a check window of simulated time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smart_sre.api.common import Trigger
from smart_sre.lifecycle.triggers import Detection, evaluate
from smart_sre_harness.eval.scenarios import WATCH_LABEL, Scenario
from smart_sre_sandbox.cluster import Sandbox, scenario_nodes

REPO_CRDS = Path(__file__).resolve().parents[3] / "crds"
TIME_SCALE = 30.0  # a 5-minute back-off in 10 s; probes and grace periods pass just as fast
CHECK_WINDOW = 90.0  # simulated seconds a fixed workload must stay Ready
FAILURE_TIMEOUT = 60.0  # real seconds for the scenario's failure to show


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
async def sandbox_for(scenario: Scenario, *, time_scale: float = TIME_SCALE) -> AsyncIterator[Sandbox]:
    """A started sandbox with the scenario's nodes (or the defaults), smart-sre's CRDs and its objects."""
    sandbox = Sandbox(
        nodes=scenario_nodes([scenario.path]) or None, time_scale=time_scale, crds_dir=crds_dir()
    )
    await sandbox.start()
    try:
        await sandbox.apply_file(scenario.path)
        yield sandbox
    finally:
        await sandbox.stop()


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
    wanted = scenario.spec.expected.trigger
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for pod in await watched_pods(sandbox, scenario):
            detection = detect(pod)
            if detection is not None and detection.trigger == wanted:
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


async def _wanted_replicas(sandbox: Sandbox, scenario: Scenario) -> int:
    total = 0
    for document in scenario.watched():
        if document["kind"] == "Pod":
            total += 1
            continue
        rt = sandbox.store.resource(document["kind"].lower() + "s")
        live = await sandbox.store.get(
            rt, document["metadata"].get("namespace", "default"), document["metadata"]["name"]
        )
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
