"""Fixtures the eval's tests share: the inference sidecar the model runs talk to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smart_sre_harness.processes import Sidecar


@pytest.fixture
async def sidecar(tmp_path: Path) -> AsyncIterator[Sidecar]:
    """`smart-sre inference serve` with $SMART_SRE_MODEL (Gemma 3 270M, tests/conftest.py), ready, stopped after
    the test."""
    process = Sidecar(tmp_path / "sidecar.log")
    process.start()
    try:
        await process.ready()
        yield process
    finally:
        process.stop()
