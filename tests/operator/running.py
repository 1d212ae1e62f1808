"""The operator as a real process (`kopf run -m smart_sre.handlers`) against the sandbox, for e2e tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OperatorProcess:
    """One operator process; `restart(kill=True)` SIGKILLs it like a crashed pod would be."""

    def __init__(self, kubeconfig: Path, log_path: Path, **env: str) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            # Nothing listens there: the sidecar is down unless a test says otherwise.
            "SMART_SRE_INFERENCE_URL": f"http://127.0.0.1:{free_port()}",
            "SMART_SRE_MODELS_LOCK": str(REPO / "models.lock"),
            "SMART_SRE_VERIFICATION_WINDOW": "60s",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.liveness = ""

    def start(self) -> None:
        port = free_port()
        self.liveness = f"http://127.0.0.1:{port}/healthz"
        kopf = Path(sys.executable).parent / "kopf"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(kopf),
                "run",
                "-m",
                "smart_sre.handlers",
                "--all-namespaces",
                "--standalone",
                "--liveness",
                self.liveness,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        self.wait_alive()

    def wait_alive(self, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            assert self.process.poll() is None, self.logs()
            try:
                with urllib.request.urlopen(self.liveness, timeout=1) as response:
                    return json.loads(response.read())
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"operator not alive after {timeout}s:\n{self.logs()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""


class SidecarProcess:
    """The real inference sidecar (`smart-sre inference serve`) with the default model, on `url`."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        smart_sre = Path(sys.executable).parent / "smart-sre"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(smart_sre), "inference", "serve", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text(errors="replace")[-4000:]
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:
                    if json.loads(response.read()).get("ready"):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"sidecar not ready after {timeout}s")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM, or SIGKILL (`kill=True`) as when its node or container dies mid-request."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
