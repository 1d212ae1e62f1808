"""The sidecar's HTTP behaviour (queue, cancellation, timeouts, reload, readiness) over a stand-in engine.

The real model runs in test_model.py; here a scripted engine makes the timing deterministic.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from smart_sre_inference import lock as lockfile
from smart_sre_inference.api import (
    GenerateRequest,
    GenerateResponse,
    ModelInfo,
    RankRequest,
    RankResponse,
    Timings,
    Usage,
)
from smart_sre_inference.client import InferenceClient
from smart_sre_inference.errors import Checkpoint, InvalidOutput, QueueFull, Unprocessable
from smart_sre_inference.lock import ModelEntry, ModelsLock, PathSource
from smart_sre_inference.resolver import MODEL_ENV, MODEL_FILE_ENV, ModelResolver
from smart_sre_inference.server import Sidecar
from smart_sre_inference.settings import EngineSettings, ServerSettings


class ScriptedEngine:
    """Works `steps` ticks per request, checking the checkpoint like the real decode loop."""

    def __init__(self, name: str, steps: int = 10, tick_s: float = 0.02) -> None:
        self._name = name
        self.steps = steps
        self.tick_s = tick_s
        self.started: list[str] = []
        self.finished: list[str] = []
        self.closed = threading.Event()

    @property
    def name(self) -> str:
        return self._name

    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self._name,
            lock_entry={},
            context_size=2048,
            n_gpu_layers=0,
            gpu_offload_supported=False,
            threads=1,
        )

    def _work(self, label: str, checkpoint: Checkpoint) -> None:
        assert not self.closed.is_set(), "a closed engine was used"
        self.started.append(label)
        for _ in range(self.steps):
            checkpoint()
            time.sleep(self.tick_s)
        if label == "invalid":
            raise InvalidOutput("the model's answer does not fit the schema at /: test")
        if label == "truncated":
            raise Unprocessable("truncated: test")
        self.finished.append(label)

    def generate(self, request: GenerateRequest, checkpoint: Checkpoint) -> GenerateResponse:
        label = request.prompt or ""
        self._work(label, checkpoint)
        return GenerateResponse(
            model=self._name,
            output={"label": label},
            text=f'{{"label":"{label}"}}',
            usage=Usage(prompt_tokens=5, cached_prompt_tokens=2, completion_tokens=4),
            timings=Timings(decode_ms=10, grammar_cache_hit=True),
        )

    def rank(self, request: RankRequest, checkpoint: Checkpoint) -> RankResponse:
        self._work("rank", checkpoint)
        return RankResponse(
            model=self._name,
            candidates=[],
            best=0,
            best_total=0,
            usage=Usage(prompt_tokens=1, cached_prompt_tokens=0, completion_tokens=1),
            timings=Timings(),
        )

    def close(self) -> None:
        self.closed.set()


def _entry(name: str) -> ModelEntry:
    return ModelEntry(
        name=name,
        source=PathSource(path=f"/weights/{name}.gguf"),
        file=f"{name}.gguf",
        sha256="0" * 64,
        size=1,
        quantization="Q4_K_M",
        licence="test",
        context_length=2048,
        chat_template="{{ bos_token }}",
    )


@pytest.fixture(autouse=True)
def _no_model_named_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness serves its own lock's default, not the model tests/conftest.py names for real runs."""
    monkeypatch.delenv(MODEL_ENV, raising=False)


class Harness:
    def __init__(self, tmp_path: Path, queue_size: int = 4, load_s: float = 0.0, steps: int = 10) -> None:
        self.lock_path = tmp_path / "models.lock"
        lockfile.save(
            ModelsLock(default="a", models=[_entry("a"), _entry("b"), _entry("broken")]), self.lock_path
        )
        self.engines: list[ScriptedEngine] = []
        self.load_s = load_s
        self.steps = steps
        self.sidecar = Sidecar(
            ModelResolver(self.lock_path, tmp_path),
            EngineSettings(),
            ServerSettings(queue_size=queue_size, request_timeout_s=30),
            loader=self._load,
        )

    def _load(self, entry: ModelEntry, directory: Path, settings: EngineSettings) -> ScriptedEngine:
        time.sleep(self.load_s)
        if entry.name == "broken":
            raise RuntimeError("sha256 mismatch for broken.gguf")
        engine = ScriptedEngine(entry.name, steps=self.steps)
        self.engines.append(engine)
        return engine


@pytest.fixture
async def harness(tmp_path: Path) -> Any:
    harness = Harness(tmp_path)
    server = TestServer(harness.sidecar.app())
    await server.start_server()
    harness.url = str(server.make_url(""))
    harness.http = aiohttp.ClientSession()
    yield harness
    await harness.http.close()
    await server.close()
    harness.sidecar.scheduler.close()


async def _generate(harness: Any, label: str, **extra: Any) -> aiohttp.ClientResponse:
    body = {"prompt": label, "schema": {"type": "object"}, **extra}
    async with harness.http.post(harness.url + "/v1/generate", json=body) as response:
        await response.read()
        return response


async def test_readiness_tells_the_truth_before_and_after_loading(harness: Any) -> None:
    async with harness.http.get(harness.url + "/healthz") as response:
        assert response.status == 200
    async with harness.http.get(harness.url + "/readyz") as response:
        assert response.status == 503
    response = await _generate(harness, "early")
    assert response.status == 503
    await harness.sidecar.load()
    async with harness.http.get(harness.url + "/readyz") as response:
        assert response.status == 200
        assert (await response.json())["model"] == "a"


async def test_a_full_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    harness = Harness(tmp_path, queue_size=1, steps=25)
    await harness.sidecar.load()
    async with TestServer(harness.sidecar.app()) as server, aiohttp.ClientSession() as http:
        harness.url, harness.http = str(server.make_url("")), http
        running = asyncio.create_task(_generate(harness, "running"))
        await asyncio.sleep(0.1)
        waiting = asyncio.create_task(_generate(harness, "waiting"))
        await asyncio.sleep(0.05)
        async with http.post(harness.url + "/v1/generate", json={"prompt": "x", "schema": {}}) as rejected:
            assert rejected.status == 429
            assert int(rejected.headers["Retry-After"]) >= 1
            assert (await rejected.json())["error"]["code"] == "queue_full"
        assert [(await running).status, (await waiting).status] == [200, 200]
    harness.sidecar.scheduler.close()


async def test_a_disconnected_client_leaves_the_queue_and_stops_its_work(harness: Any) -> None:
    await harness.sidecar.load()
    engine = harness.engines[0]
    engine.steps = 25
    running = asyncio.create_task(_generate(harness, "first"))
    await asyncio.sleep(0.1)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.1)) as impatient:
        with pytest.raises(TimeoutError):
            await impatient.post(harness.url + "/v1/generate", json={"prompt": "gone", "schema": {}})
    assert (await running).status == 200
    assert (await _generate(harness, "after")).status == 200
    assert engine.started == ["first", "after"]

    # A caller that leaves while its own work runs stops it at the next token.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.1)) as impatient:
        with pytest.raises(TimeoutError):
            await impatient.post(harness.url + "/v1/generate", json={"prompt": "abandoned", "schema": {}})
    assert (await _generate(harness, "next")).status == 200
    assert "abandoned" in engine.started
    assert "abandoned" not in engine.finished


async def test_a_request_past_its_timeout_gets_504(harness: Any) -> None:
    await harness.sidecar.load()
    harness.engines[0].steps = 50
    response = await _generate(harness, "slow", timeout_s=0.2)
    assert response.status == 504
    assert "slow" not in harness.engines[0].finished


async def test_reload_under_load_fails_no_request(harness: Any) -> None:
    harness.load_s = 0.3
    await harness.sidecar.load()
    requests = [asyncio.create_task(_generate(harness, f"r{i}")) for i in range(4)]
    async with harness.http.post(harness.url + "/v1/admin/reload", json={"model": "b"}) as reloaded:
        assert reloaded.status == 200
        assert (await reloaded.json())["name"] == "b"
    requests += [asyncio.create_task(_generate(harness, f"s{i}")) for i in range(3)]
    assert [(await request).status for request in requests] == [200] * 7
    old, new = harness.engines
    assert old.closed.is_set()
    assert not new.closed.is_set()
    assert len(old.finished) + len(new.finished) == 7


async def test_a_failed_reload_keeps_serving_the_old_model(harness: Any) -> None:
    await harness.sidecar.load()
    async with harness.http.post(harness.url + "/v1/admin/reload", json={"model": "broken"}) as failed:
        assert failed.status == 500
        assert "still serving a" in (await failed.json())["error"]["message"]
    async with harness.http.post(harness.url + "/v1/admin/reload", json={"model": "nope"}) as unknown:
        assert unknown.status == 404
    async with harness.http.get(harness.url + "/readyz") as ready:
        state = await ready.json()
        assert ready.status == 200
        assert state["model"] == "a"
        assert "sha256 mismatch" in state["last_reload_error"]
    assert (await _generate(harness, "still")).status == 200


async def test_sighup_reloads_the_model_named_in_the_mounted_file(
    harness: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.sidecar.load()
    chosen = tmp_path / "model"
    chosen.write_text("b\n")
    monkeypatch.setenv(MODEL_FILE_ENV, str(chosen))
    harness.sidecar.install_signal_handler()
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(100):
        if harness.sidecar.engine.name == "b":
            break
        await asyncio.sleep(0.02)
    assert harness.sidecar.engine.name == "b"
    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


async def test_bad_requests_and_bad_answers_are_errors_with_reasons(harness: Any) -> None:
    await harness.sidecar.load()
    async with harness.http.post(harness.url + "/v1/generate", json={"prompt": "x"}) as missing:
        assert missing.status == 400
        assert "schema" in (await missing.json())["error"]["message"]
    async with harness.http.post(harness.url + "/v1/generate", data=b"{not json") as garbled:
        assert garbled.status == 400
    assert (await _generate(harness, "invalid")).status == 422
    assert (await _generate(harness, "truncated")).status == 422
    async with harness.http.get(harness.url + "/metrics") as metrics:
        text = await metrics.text()
    assert "smart_sre_inference_validation_failures_total 1.0" in text
    assert "smart_sre_inference_truncations_total 1.0" in text
    assert 'smart_sre_inference_requests_total{endpoint="generate",status="422"} 2.0' in text
    for name in (
        "queue_depth",
        "prompt_tokens_total",
        "completion_tokens_total",
        "tokens_per_second",
        "grammar_cache_hits_total",
    ):
        assert f"smart_sre_inference_{name}" in text


async def test_the_client_speaks_the_api(harness: Any) -> None:
    async with InferenceClient(harness.url) as client:
        assert await client.health()
        assert not await client.ready()
        await harness.sidecar.load()
        assert await client.ready()
        result = await client.generate(prompt="hello", schema={"type": "object"})
        assert result.output == {"label": "hello"}
        assert result.usage.cached_prompt_tokens == 2
        assert (await client.rank(prompt="p", candidates=["x", "y"])).model == "a"
        assert (await client.models()).name == "a"
        with pytest.raises(Unprocessable, match="truncated"):
            await client.generate(prompt="truncated", schema={})
        assert (await client.reload("b")).name == "b"
    async with InferenceClient("http://127.0.0.1:9") as nobody:
        assert not await nobody.health()
        assert not await nobody.ready()


async def test_the_client_raises_queue_full_with_the_retry_hint(tmp_path: Path) -> None:
    harness = Harness(tmp_path, queue_size=0, steps=25)
    await harness.sidecar.load()
    async with (
        TestServer(harness.sidecar.app()) as server,
        InferenceClient(str(server.make_url(""))) as client,
    ):
        busy = asyncio.create_task(client.generate(prompt="busy", schema={}))
        await asyncio.sleep(0.1)
        with pytest.raises(QueueFull) as full:
            await client.generate(prompt="more", schema={})
        assert full.value.retry_after_s >= 1
        assert (await busy).output == {"label": "busy"}
    harness.sidecar.scheduler.close()


async def test_connect_prefers_a_ready_sidecar_and_falls_back_in_process(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smart_sre_inference import local

    loaded: list[str | None] = []
    monkeypatch.setattr(
        local.LocalInference,
        "load",
        classmethod(lambda cls, model=None: loaded.append(model) or "in-process"),
    )
    await harness.sidecar.load()
    remote = await local.connect(harness.url)
    assert isinstance(remote, InferenceClient)
    await remote.close()
    monkeypatch.setenv(local.URL_ENV, "http://127.0.0.1:9")
    assert await local.connect(model="gemma-copy") == "in-process"
    assert loaded == ["gemma-copy"]
