"""Operator burst benchmark: 1,000 watched pods, 200 of them (40 Deployments x 5) failing at once.

Measures, without the model (nothing listens at the sidecar URL, so reports wait as Pending):
duplicate reports (target 0), trigger -> report created latency p50/p99 (target p99 <= 2 s), and the
operator's peak RSS (target <= 150 MiB). The trigger moment is the first time a pod of a failing
Deployment shows CrashLoopBackOff in the sandbox's store; the report moment is its ADDED watch event.

    .venv/bin/python benchmarks/operator_burst.py [--healthy-deployments 80] [--failing-deployments 40]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from smart_sre_sandbox.cluster import Sandbox

REPO = Path(__file__).resolve().parents[1]
LABELS = {"app": "critical-app"}


def deployment(name: str, replicas: int, *, failing: bool) -> dict:
    labels = {**LABELS, "component": name}
    container = (
        {"name": "app", "image": "sandbox/api-client:1.0", "env": [{"name": "REDIS_HOST", "value": "redis"}]}
        if failing
        else {
            "name": "app",
            "image": "sandbox/web:1.0",
            "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}},
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def poll(predicate: Callable[[], Awaitable[bool]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        for _ in itertools.count():
            if await predicate():
                return
            await asyncio.sleep(0.5)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> dict:
    nodes = [{"name": f"bench-{i}", "cpu": "64", "memory": "256Gi", "pods": 250} for i in range(6)]
    async with Sandbox(time_scale=args.time_scale, crds_dir=REPO / "crds", nodes=nodes) as sandbox:
        workdir = Path(tempfile.mkdtemp(prefix="smart-sre-bench-"))
        kubeconfig = sandbox.write_kubeconfig(workdir / "kubeconfig")
        policy = {
            "apiVersion": "smartsre.io/v1alpha1",
            "kind": "DebugPolicy",
            "metadata": {"name": "bench"},
            "spec": {"rules": [{"namespaces": ["default"], "selector": {"matchLabels": LABELS}}]},
        }
        healthy = [deployment(f"ok-{i:03d}", 10, failing=False) for i in range(args.healthy_deployments)]
        await sandbox.apply([policy, *healthy])
        store = sandbox.store
        pods_rt = store.resource("pods")
        wanted_healthy = args.healthy_deployments * 10

        async def healthy_running() -> bool:
            pods, _ = await store.list(pods_rt, "default")
            return sum(p["status"].get("phase") == "Running" for p in pods) >= wanted_healthy

        await poll(healthy_running, args.timeout)

        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "SMART_SRE_INFERENCE_URL": f"http://127.0.0.1:{free_port()}",
            "SMART_SRE_MODELS_LOCK": str(REPO / "models.lock"),
        }
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        kopf = Path(sys.executable).parent / "kopf"
        log = (workdir / "operator.log").open("wb")
        command = ["run", "-q", "-m", "smart_sre.handlers", "-A", "--standalone", "--liveness", liveness]
        operator = await asyncio.create_subprocess_exec(
            str(kopf), *command, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
        try:
            await asyncio.sleep(args.settle)  # the operator lists and indexes the healthy pods
            triggered: dict[str, float] = {}
            created: dict[str, float] = {}
            names: list[str] = []
            http = aiohttp.ClientSession(headers={"Authorization": "Bearer sandbox"})

            async def watch(path: str, on_event: Callable[[dict], None]) -> None:
                """Raw watch over HTTP, like the operator's: when a watcher can first see a change."""
                while True:
                    async with http.get(sandbox.url + path, params={"watch": "true"}) as response:
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

            watchers = [
                asyncio.create_task(watch("/api/v1/namespaces/default/pods", on_pod)),
                asyncio.create_task(
                    watch("/apis/smartsre.io/v1alpha1/namespaces/default/diagnosticreports", on_report)
                ),
            ]
            await asyncio.sleep(2)
            failing = [deployment(f"bad-{i:03d}", 5, failing=True) for i in range(args.failing_deployments)]
            await sandbox.apply(failing)

            async def all_reported() -> bool:
                return len(created) >= args.failing_deployments

            await poll(all_reported, args.timeout)
            await asyncio.sleep(args.settle)  # later replicas' events must not open more reports
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await http.close()
            latencies = [created[name] - triggered[name] for name in created if name in triggered]
            pods = len((await store.list(pods_rt, "default"))[0])
            return {
                "watched_pods": pods,
                "failing_deployments": args.failing_deployments,
                "reports": len(names),
                "duplicates": len(names) - len(set(created)),
                "trigger_to_report_s": {
                    "p50": round(statistics.median(latencies), 3) if latencies else None,
                    "p99": round(percentile(latencies, 0.99), 3) if latencies else None,
                    "max": round(max(latencies), 3) if latencies else None,
                },
                "operator_peak_rss_mib": round(peak_rss_mib(operator.pid), 1),
                "operator_log": str(workdir / "operator.log"),
            }
        finally:
            operator.send_signal(signal.SIGTERM)
            await asyncio.wait_for(operator.wait(), 60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--healthy-deployments", type=int, default=80, help="x10 healthy pods (default 80)")
    parser.add_argument("--failing-deployments", type=int, default=40, help="x5 failing pods (default 40)")
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to let watches settle")
    parser.add_argument("--timeout", type=float, default=300.0)
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
