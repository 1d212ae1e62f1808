"""Operator burst benchmark: 1,000 watched pods, 200 of them (40 Deployments x 5) failing at once.

Three processes, so none slows another's event loop: the sandbox (`smart-sre sandbox up`), the
operator (`kopf run -m smart_sre.commands.handlers`) and this driver, which only creates objects over HTTP and
watches pods and reports. Nothing listens at the sidecar URL, so no model runs and reports wait as
Pending. Measures duplicate reports (target 0), trigger -> report created latency p50/p99 (target
p99 <= 2 s), the operator's peak RSS (target <= 150 MiB), and where the CPU went during the burst
(seconds used by the sandbox and by the operator). The trigger moment is the first time the driver's
pod watch shows a pod of a failing Deployment in CrashLoopBackOff; the report moment is the report's
ADDED watch event. `--profile DIR` records both processes with py-spy during the burst.

    .venv/bin/python benchmarks/operator_burst.py [--healthy-deployments 80] [--failing-deployments 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import yaml

from smart_sre_harness import builders
from smart_sre_harness.processes import Operator, free_port

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LABELS = {"app": "critical-app"}
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"
REPORTS = "/apis/smartsre.io/v1alpha1/namespaces/default/diagnosticreports"
POLICIES = "/apis/smartsre.io/v1alpha1/debugpolicies"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def deployment(name: str, replicas: int, *, failing: bool) -> dict:
    labels = {**LABELS, "component": name}
    if failing:  # the seed's crash: Connection refused to redis:6379
        return builders.deployment(
            name,
            image="sandbox/api-client:1.0",
            labels=labels,
            replicas=replicas,
            env={"REDIS_HOST": "redis"},
        )
    return builders.deployment(
        name,
        image="sandbox/web:1.0",
        labels=labels,
        replicas=replicas,
        requests={"cpu": "1m", "memory": "1Mi"},
    )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def poll(predicate: Callable[[], Awaitable[bool]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        for _ in itertools.count():
            if await predicate():
                return
            await asyncio.sleep(0.5)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def start_sandbox(workdir: Path, time_scale: float) -> tuple[asyncio.subprocess.Process, str]:
    """`smart-sre sandbox up --port 0` with six roomy nodes; returns the process and its URL."""
    nodes = workdir / "nodes.yaml"
    nodes.write_text(
        yaml.safe_dump_all(
            {
                "apiVersion": "sandbox.smartsre.io/v1alpha1",
                "kind": "SandboxNode",
                "metadata": {"name": f"bench-{i}"},
                "spec": {"cpu": "64", "memory": "256Gi", "pods": 250},
            }
            for i in range(6)
        )
    )
    command = [
        *(str(BIN / "smart-sre"), "sandbox", "up", "--port", "0", "--time-scale", str(time_scale)),
        *(
            "--crds",
            str(REPO / "crds"),
            "--scenario",
            str(nodes),
            "--kubeconfig",
            str(workdir / "kubeconfig"),
        ),
    ]
    log = (workdir / "sandbox.log").open("wb")
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE, stderr=log)
    assert process.stdout is not None
    while line := (await asyncio.wait_for(process.stdout.readline(), 60)).decode():
        if match := re.search(r"listening on (http://\S+)", line):
            return process, match.group(1)
    raise RuntimeError(f"the sandbox exited before listening; see {workdir / 'sandbox.log'}")


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="smart-sre-bench-"))
    sandbox, url = await start_sandbox(workdir, args.time_scale)
    http = aiohttp.ClientSession(url, headers={"Authorization": "Bearer sandbox"})
    operator: Operator | None = None
    try:

        async def create(path: str, body: dict) -> None:
            async with http.post(path, json=body) as response:
                if response.status >= 300:
                    raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")

        async def pods() -> list[dict]:
            async with http.get(PODS) as response:
                return (await response.json())["items"]

        policy = {
            "apiVersion": "smartsre.io/v1alpha1",
            "kind": "DebugPolicy",
            "metadata": {"name": "bench"},
            "spec": {"rules": [{"namespaces": ["default"], "selector": {"matchLabels": LABELS}}]},
        }
        await create(POLICIES, policy)
        for i in range(args.healthy_deployments):
            await create(DEPLOYMENTS, deployment(f"ok-{i:03d}", 10, failing=False))
        wanted_healthy = args.healthy_deployments * 10

        async def healthy_running() -> bool:
            return sum(p["status"].get("phase") == "Running" for p in await pods()) >= wanted_healthy

        await poll(healthy_running, args.timeout)

        operator = Operator(
            workdir / "kubeconfig",
            f"http://127.0.0.1:{free_port()}",  # nothing listens: no model runs
            workdir / "operator.log",
            kopf=True,
            env={"SMART_SRE_MODELS_LOCK": str(REPO / "models.lock")},
        ).start()
        await operator.alive()
        await asyncio.sleep(args.settle)  # the operator lists and indexes the healthy pods
        triggered: dict[str, float] = {}
        created: dict[str, float] = {}
        names: list[str] = []

        async def watch(path: str, on_event: Callable[[dict], None]) -> None:
            """Raw watch over HTTP, like the operator's: when a watcher can first see a change."""
            while True:
                async with http.get(path, params={"watch": "true"}, timeout=None) as response:
                    async for line in response.content:
                        if line.strip():
                            on_event(json.loads(line)["object"])

        def on_pod(pod: dict) -> None:
            component = pod["metadata"].get("labels", {}).get("component", "")
            statuses = pod.get("status", {}).get("containerStatuses") or ()
            waiting = [s.get("state", {}).get("waiting", {}).get("reason") for s in statuses]
            if component.startswith("bad-") and "CrashLoopBackOff" in waiting:
                triggered.setdefault(component, time.monotonic())

        def on_report(report: dict) -> None:
            if report["metadata"]["name"] not in names:
                names.append(report["metadata"]["name"])
            created.setdefault(report["spec"]["workloadRef"]["name"], time.monotonic())

        api_latencies: list[float] = []

        async def probe() -> None:
            """The API server's responsiveness: how long one small GET takes during the burst."""
            while True:
                started = time.monotonic()
                async with http.get(f"{POLICIES}/bench") as response:
                    await response.read()
                api_latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.5)

        watchers = [
            asyncio.create_task(watch(PODS, on_pod)),
            asyncio.create_task(watch(REPORTS, on_report)),
            asyncio.create_task(probe()),
        ]
        await asyncio.sleep(2)
        profilers = []
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            for role, process in (("operator", operator), ("sandbox", sandbox)):
                profilers.append(
                    await asyncio.create_subprocess_exec(
                        str(BIN / "py-spy"),
                        *("record", "--pid", str(process.pid), "--rate", "50", "--format", "raw"),
                        *("--output", str(args.profile / f"{role}.txt"), "--nonblocking"),
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                )
        cpu_before = {role: cpu_seconds(p.pid) for role, p in (("operator", operator), ("sandbox", sandbox))}
        burst_started = time.monotonic()
        for i in range(args.failing_deployments):
            await create(DEPLOYMENTS, deployment(f"bad-{i:03d}", 5, failing=True))

        async def all_reported() -> bool:
            return len(created) >= args.failing_deployments

        await poll(all_reported, args.timeout)
        burst_seconds = time.monotonic() - burst_started
        cpu = {
            role: round(cpu_seconds(p.pid) - cpu_before[role], 1)
            for role, p in (("operator", operator), ("sandbox", sandbox))
        }
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            await asyncio.wait_for(profiler.wait(), 60)
        await asyncio.sleep(args.settle)  # later replicas' events must not open more reports
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        latencies = [created[name] - triggered[name] for name in created if name in triggered]
        return {
            "watched_pods": len(await pods()),
            "failing_deployments": args.failing_deployments,
            "reports": len(names),
            "duplicates": len(names) - len(set(created)),
            "trigger_to_report_s": {
                "p50": round(statistics.median(latencies), 3) if latencies else None,
                "p99": round(percentile(latencies, 0.99), 3) if latencies else None,
                "max": round(max(latencies), 3) if latencies else None,
            },
            "api_get_latency_s": {
                "p50": round(statistics.median(api_latencies), 3),
                "max": round(max(api_latencies), 3),
            },
            "burst_wall_s": round(burst_seconds, 1),
            "burst_cpu_s": cpu,
            "operator_peak_rss_mib": round(peak_rss_mib(operator.pid), 1),
            "load_average": [round(load, 2) for load in os.getloadavg()],
            "operator_log": str(workdir / "operator.log"),
        }
    finally:
        await http.close()
        if operator is not None:
            operator.stop()
        with contextlib.suppress(ProcessLookupError):
            await stop(sandbox)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--healthy-deployments", type=int, default=80, help="x10 healthy pods (default 80)")
    parser.add_argument("--failing-deployments", type=int, default=40, help="x5 failing pods (default 40)")
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to let watches settle")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of the burst into this folder")
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
