"""Fixtures for the operator's end-to-end tests: the sandbox with smart-sre's CRDs, and the operator."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smart_sre_harness.processes import Operator, free_port

from .scenario import REPO


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"time_scale": 30.0, "crds_dir": REPO / "crds"}


@pytest.fixture
def kubectl_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl finds `kubectl-sre` (the console script) on PATH, as after `pip install smart-sre`."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture
def operator_process(sandbox: Any, tmp_path: Path) -> Iterator[Operator]:
    """The operator as `kopf run -m smart_sre.commands.handlers`, not yet started: tests create their objects
    first, then `start()` it. Nothing listens at its sidecar URL unless a test says otherwise."""
    process = Operator(
        sandbox.kubeconfig,
        f"http://127.0.0.1:{free_port()}",
        tmp_path / "operator.log",
        verification_window="60s",
        kopf=True,
        env={"SMART_SRE_MODELS_LOCK": str(REPO / "models.lock")},
    )
    try:
        yield process
    finally:
        process.stop()
