"""The sidecar's metrics listener: Prometheus scrapes GET /metrics from outside the pod, and reaches
nothing else of the sidecar; the API stays on 127.0.0.1. Served by the real `serve`, over a stand-in
engine (test_server.py's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from smart_sre_inference.server import serve
from smart_sre_inference.settings import ServerSettings

from .test_server import Harness
from .test_server import _no_model_named_by_env as _no_model_named_by_env  # autouse: its own lock's default

VALIDATION_FAILURES = "smart_sre_inference_validation_failures_total"


def _free_port() -> int:
    """A port free on every IPv4 interface now (the sidecar binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def _outside_address() -> str | None:
    """This machine's address on its default route, as a scraper in another pod would dial it; None
    without one. Connecting a UDP socket only picks the route: no packet leaves."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: any routable address will do
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") else address


@dataclass
class Serving:
    harness: Harness
    settings: ServerSettings
    http: aiohttp.ClientSession

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    async def scrape(self, host: str) -> str:
        async with self.http.get(f"http://{host}:{self.settings.metrics_port}/metrics") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            return await response.text()


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, metrics_port: int | None = None) -> AsyncIterator[Serving]:
    """`serve` as `smart-sre inference serve` runs it, until the model is ready; stopped on the way out."""
    harness = Harness(tmp_path)
    settings = harness.sidecar.settings.model_copy(
        update={"port": _free_port(), "metrics_port": metrics_port or _free_port()}
    )
    harness.sidecar.settings = settings
    task = asyncio.create_task(serve(harness.sidecar))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        running = Serving(harness, settings, http)
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(running.api + "/readyz") as response:
                    if response.status == 200:
                        break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the sidecar did not become ready")
        try:
            yield running
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_prometheus_scrapes_the_sidecar_from_outside_and_reaches_nothing_else(tmp_path: Path) -> None:
    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no address besides loopback to scrape from")
    async with serving(tmp_path) as sidecar:
        async with sidecar.http.post(
            sidecar.api + "/v1/generate", json={"prompt": "invalid", "schema": {"type": "object"}}
        ) as answer:
            assert answer.status == 422

        # What the issue asked for: the failure that must stay 0 is visible where Prometheus scrapes.
        scraped = await sidecar.scrape(outside)
        assert f"{VALIDATION_FAILURES} 1.0" in scraped
        assert "smart_sre_inference_ready 1.0" in scraped
        assert 'smart_sre_inference_requests_total{endpoint="generate",status="422"} 1.0' in scraped

        metrics_port = f"http://{outside}:{sidecar.settings.metrics_port}"
        for method, path in (("POST", "/v1/generate"), ("GET", "/v1/models"), ("POST", "/v1/admin/reload")):
            async with sidecar.http.request(method, metrics_port + path, json={}) as response:
                assert response.status == 404, (method, path)
        with pytest.raises(aiohttp.ClientConnectorError):
            await sidecar.http.get(f"http://{outside}:{sidecar.settings.port}/healthz")

        # The operator and the benchmarks still read the same numbers on the API port.
        async with sidecar.http.get(sidecar.api + "/metrics") as local:
            assert f"{VALIDATION_FAILURES} 1.0" in await local.text()


async def test_the_metrics_listener_answers_over_ipv6_too(tmp_path: Path) -> None:
    """IPv6-only clusters give pods no IPv4 address: the listener binds both families."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    async with serving(tmp_path) as sidecar:
        assert "smart_sre_inference_ready 1.0" in await sidecar.scrape("[::1]")


async def test_a_taken_metrics_port_is_logged_and_the_sidecar_serves_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two sidecars on one machine (a developer's, the e2e tests) cannot share the metrics port:
    the second says so and still generates."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="smart_sre_inference.server"):
            async with (
                serving(tmp_path, metrics_port=port) as sidecar,
                sidecar.http.post(
                    sidecar.api + "/v1/generate", json={"prompt": "ok", "schema": {"type": "object"}}
                ) as answer,
            ):
                assert answer.status == 200
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "metrics not served on their own port" in record.getMessage()
    assert record.port == port


def test_the_metrics_port_defaults_to_9091_and_has_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART_SRE_METRICS_PORT", "9090")  # the operator's: a shell may hold both
    assert ServerSettings.from_env().metrics_port == 9091
    monkeypatch.setenv("SMART_SRE_INFERENCE_METRICS_PORT", "9200")
    assert ServerSettings.from_env().metrics_port == 9200
    assert ServerSettings.from_env(metrics_port=9300).metrics_port == 9300
    assert ServerSettings.from_env().host == "127.0.0.1"  # the API stays local
    monkeypatch.setenv("SMART_SRE_INFERENCE_METRICS_PORT", "70000")
    with pytest.raises(ValidationError, match="metrics_port"):
        ServerSettings.from_env()
