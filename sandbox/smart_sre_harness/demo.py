"""`smart-sre demo`: the whole loop on a local sandbox, shown the way kubectl shows it.

A sandbox cluster with the seed's two failures (a checkout service that cannot reach Redis, a report
generator asking for more memory than any node has), the inference sidecar with the default model, the
operator, and the seed's DebugPolicy. The investigations are printed live; then the reports as
`kubectl get dr` and `kubectl sre show` print them, the crash-loop fix is approved and the pod recovers.
The sandbox keeps running for kubectl until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from smart_sre_harness.processes import Operator, Sidecar
from smart_sre_sandbox.cli import builtin_scenarios, default_crds_dir
from smart_sre_sandbox.cluster import Sandbox, scenario_nodes
from smart_sre_sandbox.store import Store

SCENARIOS = ("seed-crashloop", "seed-pending")
POLICY = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "debugpolicy-seed.yaml"
TERMINAL = {"AwaitingApproval", "FindingsOnly", "Applied", "Failed", "Rejected", "Stale"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="the whole loop on a local sandbox cluster", description=__doc__
    )
    parser.add_argument("--port", type=int, default=6443, help="sandbox API port (default 6443; 0: any free)")
    parser.add_argument(
        "--kubeconfig", type=Path, default=Path("sandbox.kubeconfig"), help="written for kubectl"
    )
    parser.add_argument("--time-scale", type=float, default=10.0, help="how much faster back-offs run")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for each stage before giving up"
    )
    parser.add_argument(
        "--exit", action="store_true", help="stop once the fix is verified instead of waiting for Ctrl-C"
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(Demo(args).run())
    except KeyboardInterrupt:
        return 130


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"\n==> {text}", flush=True)


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.logs = Path(tempfile.mkdtemp(prefix="smart-sre-demo-"))
        self.env: dict[str, str] = {}

    async def kubectl(self, *argv: str) -> None:
        """Run the real kubectl (and its `sre` plugin, found on PATH) and echo it like a terminal.

        Asynchronous on purpose: the sandbox that answers it runs on this event loop.
        """
        print(f"$ kubectl {' '.join(argv)}", flush=True)
        process = await asyncio.create_subprocess_exec(
            "kubectl", *argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output, _ = await asyncio.wait_for(process.communicate(), 120)
        print(output.decode(errors="replace").rstrip(), flush=True)
        if process.returncode:
            raise RuntimeError(f"kubectl {' '.join(argv)} failed with exit code {process.returncode}")

    async def run(self) -> int:
        paths = [builtin_scenarios()[name] for name in SCENARIOS]
        sandbox = Sandbox(
            port=self.args.port,
            time_scale=self.args.time_scale,
            nodes=scenario_nodes(paths) or None,
            crds_dir=default_crds_dir(),
        )
        sidecar = Sidecar(self.logs / "sidecar.log")
        operator: Operator | None = None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            say("Starting the sandbox cluster and the inference sidecar (default model)")
            sidecar.start()
            await sandbox.start()
            kubeconfig = sandbox.write_kubeconfig(self.args.kubeconfig.resolve())
            bin_dir = str(Path(sys.executable).parent)
            self.env = {
                **os.environ,
                **sandbox.kubectl_env(kubeconfig),
                "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            }
            for path in paths:
                await sandbox.apply_file(path)
            await self._until(sidecar.ready(within=self.args.timeout), stop)
            # A generous window: on a busy laptop the rollout may take a while, and the demo waits for it.
            operator = Operator(kubeconfig, sidecar.url, self.logs / "operator.log", verification_window="3m")
            operator.start()
            await self._until(operator.alive(), stop)

            say(
                "The seed's DebugPolicy: watch app=critical-app in default (pending grace shortened for the demo)"
            )
            policy = yaml.safe_load(POLICY.read_text())
            policy["spec"]["pendingGracePeriod"] = "10s"
            demo_policy = self.logs / "debugpolicy.yaml"
            demo_policy.write_text(yaml.safe_dump(policy))
            await self.kubectl("apply", "-f", str(demo_policy))

            say("Two pods fail, as on a real cluster")
            await self._until(self._pods_failing(sandbox.store), stop)
            await self.kubectl("get", "pods", "-l", "app=critical-app")

            say("smart-sre investigates (live: phase changes and reasoning steps)")
            reports = await self._until(self._follow_reports(sandbox.store), stop)
            await self.kubectl("get", "dr")
            for name in reports:
                await self.kubectl("sre", "show", name)

            crashloop = next((name for name, phase in reports.items() if "crashloop" in name), None)
            if crashloop and reports[crashloop] == "AwaitingApproval":
                say(f"A human approves the fix for {crashloop} (the sha256 shown above is pinned)")
                await self.kubectl("sre", "approve", crashloop, "--yes")
                await self._until(self._verified(sandbox.store, crashloop), stop)
                await self.kubectl("get", "dr", crashloop)
                await self.kubectl("get", "pods", "-l", "app=critical-app")
            else:
                say("No patch to approve for the crash loop; see the findings above")

            say("The sandbox keeps running. In another terminal:")
            print(
                f"  export KUBECONFIG={kubeconfig} KUBECACHEDIR={self.env['KUBECACHEDIR']}\n"
                f"  export PATH={bin_dir}:$PATH\n"
                "  kubectl get dr; kubectl sre show NAME; kubectl sre approve NAME\n"
                f"Logs: {self.logs}. Ctrl-C stops everything.",
                flush=True,
            )
            if not self.args.exit:
                await stop.wait()
            return 0
        finally:
            if operator is not None:
                operator.stop()
            sidecar.stop()
            await sandbox.stop()
            if self.args.exit:
                shutil.rmtree(self.logs, ignore_errors=True)

    async def _until(self, work, stop: asyncio.Event):
        """Await `work` within the timeout, unless Ctrl-C comes first."""
        task = asyncio.ensure_future(asyncio.wait_for(work, self.args.timeout))
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if task not in done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await task
            raise KeyboardInterrupt
        return task.result()

    async def _pods_failing(self, store: Store) -> None:
        pods = store.resource("pods")
        while True:
            items, _ = await store.list(pods, "default", label_selector="app=critical-app")
            states = {_pod_state(pod) for pod in items}
            if {"CrashLoopBackOff", "Pending"} <= states:
                return
            await asyncio.sleep(0.5)

    async def _follow_reports(self, store: Store) -> dict[str, str]:
        """Print each report's phase changes and new reasoning steps until every one has settled."""
        reports = store.resource("diagnosticreports", "smartsre.io")
        seen_phase: dict[str, str] = {}
        seen_steps: dict[str, int] = {}
        while True:
            items, _ = await store.list(reports, "default")
            for item in items:
                name = item["metadata"]["name"]
                status = item.get("status") or {}
                phase = status.get("phase", "Pending")
                if seen_phase.get(name) != phase:
                    print(f"[{name}] phase {phase}", flush=True)
                    seen_phase[name] = phase
                chain = status.get("reasoningChain") or []
                for step in chain[seen_steps.get(name, 0) :]:
                    action = step.get("action") or {}
                    if action.get("tool"):
                        arguments = ", ".join(f"{k}={v}" for k, v in (action.get("arguments") or {}).items())
                        print(f"[{name}] step {step.get('index')}: {action['tool']}({arguments})", flush=True)
                    else:
                        first = (step.get("observation") or "").splitlines()[:1]
                        print(f"[{name}] step {step.get('index')}: evidence: {' '.join(first)}", flush=True)
                    if step.get("thought"):
                        print(f"    thought: {step['thought']}", flush=True)
                seen_steps[name] = len(chain)
            if len(items) >= len(SCENARIOS) and all(phase in TERMINAL for phase in seen_phase.values()):
                return seen_phase
            await asyncio.sleep(0.5)

    async def _verified(self, store: Store, name: str) -> None:
        reports = store.resource("diagnosticreports", "smartsre.io")
        while True:
            status = (await store.get(reports, "default", name)).get("status") or {}
            conditions = {c["type"]: c for c in status.get("conditions") or []}
            if status.get("phase") in {"Failed", "Stale"}:
                raise RuntimeError(f"{name} ended {status['phase']}: {status.get('conditions')}")
            verified = conditions.get("Verified")
            if verified:  # True: the rollout finished healthy; False: the verification window ran out
                print(f"[{name}] Verified={verified['status']}: {verified.get('message', '')}", flush=True)
                return
            await asyncio.sleep(0.5)


def _pod_state(pod: dict) -> str:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return waiting["reason"]
    return (pod.get("status") or {}).get("phase", "Pending")
