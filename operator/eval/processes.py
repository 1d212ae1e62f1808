"""The sidecar and the operator as child processes (`smart-sre inference serve`, `smart-sre operator run`)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

SMART_SRE = str(Path(sys.executable).parent / "smart-sre")
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
    """A child process whose output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.argv, self.log_path = argv, log_path
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)

    async def wait_until(self, url: str, ready: Callable[[bytes], object], within: float) -> None:
        """Poll `url` until `ready(body)`; a child that exits meanwhile is an error with its log tail."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.argv[1]} exited early; see {self.log_path}:\n{self.tail()}")
            try:
                if ready(await asyncio.to_thread(_get, url)):
                    return
            except OSError:
                pass
            await asyncio.sleep(0.3)
        raise TimeoutError(f"{' '.join(self.argv[:3])} not ready after {within:.0f}s; see {self.log_path}")

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class Sidecar(Child):
    def __init__(self, log_path: Path, model: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [SMART_SRE, "inference", "serve", "--port", str(self.port)]
        super().__init__([*argv, "--model", model] if model else argv, log_path)

    async def ready(self, within: float = 300.0) -> None:
        await self.wait_until(self.url + "/readyz", lambda body: json.loads(body).get("ready"), within)


class Operator(Child):
    def __init__(
        self, kubeconfig: Path, inference_url: str, log_path: Path, verification_window: str = "30s"
    ) -> None:
        self.liveness = f"http://127.0.0.1:{free_port()}/healthz"
        self.metrics_port = free_port()
        super().__init__(
            [
                SMART_SRE,
                "operator",
                "run",
                "--kubeconfig",
                str(kubeconfig),
                "--inference-url",
                inference_url,
                "--liveness",
                self.liveness,
                "--metrics-port",
                str(self.metrics_port),
                "--verification-window",
                verification_window,
            ],
            log_path,
        )

    async def alive(self, within: float = 60.0) -> None:
        await self.wait_until(self.liveness, lambda body: True, within)

    async def tokens(self) -> int:
        """smart_sre_analysis_tokens from the operator's metrics: this operator ran one scenario."""
        try:
            text = (await asyncio.to_thread(_get, f"http://127.0.0.1:{self.metrics_port}/metrics")).decode()
        except OSError:
            return 0
        match = re.search(r"^smart_sre_analysis_tokens_total (\S+)$", text, re.MULTILINE)
        return int(float(match[1])) if match else 0

    def parse_failures(self) -> int:
        return len(PARSE_FAILURE.findall(self.tail(10**7)))
