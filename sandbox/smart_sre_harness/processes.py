"""smart-sre's own processes as children: the inference sidecar and the operator.

The demo, the eval, the benchmarks and the end-to-end tests run the real commands the way their Pods
do (`smart-sre inference serve`; `smart-sre operator run` or `kopf run -m smart_sre.commands.handlers`,
configured from the environment), each logging to a file. Waiting is blocking (`wait_*`, for tests
that drive the sandbox from another thread) or async (`ready`, `alive`, for callers that run the
sandbox on their own event loop and must not block it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self

BIN = Path(sys.executable).parent
SMART_SRE = str(BIN / "smart-sre")
KOPF = str(BIN / "kopf")
# What the agent logs when a model answer could not be used (see agent.py): the eval's parse failures.
PARSE_FAILURE = re.compile(r"step \d+ failed|final answer failed|ranking failed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.read()


class Child:
    """A child process whose output goes to a log file; stopped with SIGTERM (or SIGKILL), then reaped."""

    def __init__(self, argv: list[str], log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.argv, self.log_path = argv, log_path
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        """Start it and return at once; wait with `wait_until` (or a subclass' readiness check)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        return self

    @property
    def name(self) -> str:
        """The command as errors name it: "inference serve", "operator run", "run -m" ..."""
        return " ".join(self.argv[1:3])

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def poll_until(self, url: str, ready: Callable[[bytes], object], within: float) -> bytes:
        """Poll `url` until `ready(body)`; a child that exits meanwhile is an error with its log tail."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}:\n{self.tail()}")
            try:
                body = _get(url)
                if ready(body):
                    return body
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready after {within:.0f}s; see {self.log_path}:\n{self.tail()}")

    async def wait_until(self, url: str, ready: Callable[[bytes], object], within: float) -> bytes:
        return await asyncio.to_thread(self.poll_until, url, ready, within)

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM, or SIGKILL (`kill=True`) as when its container dies mid-request."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class Sidecar(Child):
    """`smart-sre inference serve` on a free local port, with the lock's default model unless told.

    Its metrics listener takes any free port too (GET /metrics also answers on `url`): sidecars started
    side by side (the eval, the demo, parallel tests) would otherwise all ask for the pod's 9091."""

    def __init__(self, log_path: Path, model: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [SMART_SRE, "inference", "serve", "--port", str(self.port)]
        env = {"SMART_SRE_INFERENCE_METRICS_PORT": "0"}
        super().__init__([*argv, "--model", model] if model else argv, log_path, env)

    def wait_ready(self, within: float = 300.0) -> None:
        self.poll_until(self.url + "/readyz", lambda body: json.loads(body).get("ready"), within)

    async def ready(self, within: float = 300.0) -> None:
        await asyncio.to_thread(self.wait_ready, within)


class Operator(Child):
    """The operator, configured through the environment as in its Deployment.

    `kopf=True` starts it as `kopf run -m smart_sre.commands.handlers` instead of `smart-sre operator run`:
    both must behave the same. Metrics are served on `metrics_port`.
    """

    def __init__(
        self,
        kubeconfig: Path,
        inference_url: str,
        log_path: Path,
        *,
        verification_window: str = "30s",
        kopf: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.liveness = f"http://127.0.0.1:{free_port()}/healthz"
        self.metrics_port = free_port()
        if kopf:
            argv = [KOPF, "run", "-m", "smart_sre.commands.handlers", "--all-namespaces", "--standalone"]
        else:
            argv = [SMART_SRE, "operator", "run"]
        settings = {
            "KUBECONFIG": str(kubeconfig),
            "SMART_SRE_INFERENCE_URL": inference_url,
            "SMART_SRE_VERIFICATION_WINDOW": verification_window,
            "SMART_SRE_METRICS_PORT": str(self.metrics_port),
        }
        super().__init__([*argv, "--liveness", self.liveness], log_path, {**settings, **(env or {})})

    def wait_alive(self, within: float = 60.0) -> dict:
        """Kopf's liveness probe answer (the operator's own probe: running and queued analyses)."""
        return json.loads(self.poll_until(self.liveness, lambda body: True, within))

    async def alive(self, within: float = 60.0) -> dict:
        return await asyncio.to_thread(self.wait_alive, within)

    def metrics(self) -> str:
        return _get(f"http://127.0.0.1:{self.metrics_port}/metrics").decode()

    async def tokens(self) -> int:
        """smart_sre_analysis_tokens from the operator's metrics: this operator ran one scenario."""
        try:
            text = await asyncio.to_thread(self.metrics)
        except OSError:
            return 0
        match = re.search(r"^smart_sre_analysis_tokens_total (\S+)$", text, re.MULTILINE)
        return int(float(match[1])) if match else 0

    def parse_failures(self) -> int:
        return len(PARSE_FAILURE.findall(self.tail(10**7)))
