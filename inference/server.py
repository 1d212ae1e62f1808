"""The sidecar's HTTP API: a thin aiohttp layer over the engine, the queue and the metrics.

Routes: POST /v1/generate, POST /v1/rank, GET /v1/models, POST /v1/admin/reload, GET /healthz,
GET /readyz, GET /metrics. SIGHUP reloads like POST /v1/admin/reload without a body. GET /metrics is
also served alone on `metrics_port` of every interface, for Prometheus (see `serve`).

Engines come from a `Backend`: the weights pinned in models.lock (`LocalModels`, the default) or an
OpenAI-compatible server in the cluster (`remote.RemoteModels`); everything here serves either alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from smart_sre_inference.api import (
    GenerateRequest,
    GenerateResponse,
    ModelInfo,
    RankRequest,
    RankResponse,
    ReloadRequest,
)
from smart_sre_inference.errors import (
    Cancelled,
    Checkpoint,
    InferenceError,
    InvalidOutput,
    NotReady,
    QueueFull,
    Unavailable,
    Unprocessable,
)
from smart_sre_inference.lock import ModelEntry
from smart_sre_inference.metrics import Metrics
from smart_sre_inference.resolver import ModelResolver
from smart_sre_inference.scheduler import Scheduler
from smart_sre_inference.settings import EngineSettings, ServerSettings

logger = logging.getLogger(__name__)


class EngineLike(Protocol):
    @property
    def name(self) -> str: ...
    def info(self) -> ModelInfo: ...
    def generate(self, request: GenerateRequest, checkpoint: Checkpoint) -> GenerateResponse: ...
    def rank(self, request: RankRequest, checkpoint: Checkpoint) -> RankResponse: ...
    def close(self) -> None: ...


class Backend(Protocol):
    """Where the sidecar's engine comes from; `load` and reload ask it for one by (optional) name."""

    def label(self, requested: str | None) -> str:
        """The name of what `open` would serve, cheaply (no I/O beyond a local file); KeyError if unknown."""
        ...

    def open(self, requested: str | None) -> EngineLike:
        """Blocking (seconds to minutes): a ready engine. `Unavailable`: not now, worth retrying."""
        ...


Loader = Callable[[ModelEntry, Path, EngineSettings], EngineLike]
Answer = TypeVar("Answer", GenerateResponse, RankResponse)
RETRY_MAX_S = 30.0  # the longest wait between two tries to open an unavailable backend at start


def _load_engine(entry: ModelEntry, directory: Path, settings: EngineSettings) -> EngineLike:
    # Engine.load hashes the whole file against the lock before llama.cpp maps it, at every start and
    # reload (no cached verdict); hashing here as well would read the weights twice.
    from smart_sre_inference.engine import Engine

    return Engine.load(entry, directory, settings)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _json(body: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=body.model_dump_json(by_alias=True), status=status, content_type="application/json"
    )


class LocalModels:
    """The backend of models.lock: a name resolves to a lock entry whose weights `loader` verifies and loads."""

    def __init__(self, resolver: ModelResolver, settings: EngineSettings, loader: Loader) -> None:
        self.resolver = resolver
        self.settings = settings
        self._loader = loader

    def label(self, requested: str | None) -> str:
        return self.resolver.resolve(requested).name

    def open(self, requested: str | None) -> EngineLike:
        return self._loader(self.resolver.resolve(requested), self.resolver.models_dir, self.settings)


class Sidecar:
    def __init__(
        self,
        resolver: ModelResolver,
        engine_settings: EngineSettings,
        server_settings: ServerSettings,
        loader: Loader = _load_engine,
    ) -> None:
        """A sidecar over the weights pinned in models.lock; `Sidecar.over` takes any other backend."""
        self._start(LocalModels(resolver, engine_settings, loader), server_settings)

    @classmethod
    def over(cls, backend: Backend, server_settings: ServerSettings) -> Sidecar:
        """A sidecar whose engines `backend` opens (an endpoint: `remote.RemoteModels`)."""
        sidecar = cls.__new__(cls)
        sidecar._start(backend, server_settings)
        return sidecar

    def _start(self, backend: Backend, server_settings: ServerSettings) -> None:
        self.backend = backend
        self.settings = server_settings
        self.metrics = Metrics()
        self.scheduler = Scheduler(server_settings.queue_size, self.metrics.queue_depth.set)
        self.engine: EngineLike | None = None
        self.reloading: str | None = None
        self.last_reload_error: str | None = None
        self._reload_lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    async def load(self, requested: str | None = None) -> EngineLike:
        """Open (verify and warm up, or reach and probe) the model beside the current one, then switch
        between requests."""
        async with self._reload_lock:
            name = self.backend.label(requested)
            self.reloading = name
            try:
                engine = await asyncio.to_thread(self.backend.open, requested)
            except Exception as error:
                self.last_reload_error = f"{name}: {error}"
                raise
            finally:
                self.reloading = None
            async with self.scheduler.exclusive():
                previous, self.engine = self.engine, engine
            self.last_reload_error = None
            self.metrics.ready.set(1)
            if previous is not None:
                await asyncio.to_thread(previous.close)
            logger.info("serving model", extra={"model": engine.name})
            return engine

    async def _reload_on_signal(self) -> None:
        try:
            await self.load()
        except Exception:
            logger.exception("reload after SIGHUP failed; still serving the previous model")

    def install_signal_handler(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self._reload_on_signal()))

    def close(self) -> None:
        self.scheduler.close()
        if self.engine is not None:
            self.engine.close()

    # -- HTTP ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.add_routes(
            [
                web.post("/v1/generate", self._counted("generate", self.generate)),
                web.post("/v1/rank", self._counted("rank", self.rank)),
                web.get("/v1/models", self._counted("models", self.models)),
                web.post("/v1/admin/reload", self._counted("reload", self.reload)),
                web.get("/healthz", self.healthz),
                web.get("/readyz", self.readyz),
                web.get("/metrics", self.metrics.exposition),
            ]
        )
        return app

    def _counted(
        self, endpoint: str, handler: Callable[[web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def counted(request: web.Request) -> web.Response:
            started = time.perf_counter()
            status = 499  # stays so when the client disconnects and the handler is cancelled
            try:
                response = await self._guarded(handler, request)
                status = response.status
                return response
            finally:
                self.metrics.requests.labels(endpoint, str(status)).inc()
                self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)

        return counted

    async def _guarded(
        self, handler: Callable[[web.Request], Awaitable[web.Response]], request: web.Request
    ) -> web.Response:
        try:
            return await handler(request)
        except ValidationError as error:
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()
            )
            return _error(400, "invalid_request", details)
        except json.JSONDecodeError as error:
            return _error(400, "invalid_request", f"the body is not JSON: {error}")
        except QueueFull as error:
            return _error(429, error.code, str(error), headers={"Retry-After": str(error.retry_after_s)})
        except InferenceError as error:
            if isinstance(error, InvalidOutput):
                self.metrics.validation_failures.inc()
            elif isinstance(error, Unprocessable):
                self.metrics.truncations.inc()
            if not isinstance(error, Cancelled):
                logger.warning("request failed", extra={"status": error.status, "reason": str(error)})
            return _error(error.status, error.code, str(error))

    def _engine(self) -> EngineLike:
        if self.engine is None:
            raise NotReady("the model is still loading; retry when /readyz answers 200")
        return self.engine

    async def _queued(
        self, work: Callable[[EngineLike, Checkpoint], Answer], timeout_s: float | None
    ) -> Answer:
        """Run `work` on the engine in use when its turn comes; its timings include the queue wait."""
        self._engine()  # not ready: answer 503 now rather than after queueing
        answer, waited = await self.scheduler.run(
            lambda checkpoint: work(self._engine(), checkpoint), timeout_s or self.settings.request_timeout_s
        )
        answer.timings.queue_ms = waited * 1000
        answer.timings.total_ms += waited * 1000
        return answer

    async def generate(self, request: web.Request) -> web.Response:
        body = GenerateRequest.model_validate(await request.json())
        response = await self._queued(
            lambda engine, checkpoint: engine.generate(body, checkpoint), body.timeout_s
        )
        hit = response.timings.grammar_cache_hit
        (self.metrics.grammar_cache_hits if hit else self.metrics.grammar_cache_misses).inc()
        self.metrics.observe_usage(response.usage, response.timings.decode_ms)
        return _json(response)

    async def rank(self, request: web.Request) -> web.Response:
        body = RankRequest.model_validate(await request.json())
        response = await self._queued(
            lambda engine, checkpoint: engine.rank(body, checkpoint), body.timeout_s
        )
        self.metrics.observe_usage(response.usage, 0.0)
        return _json(response)

    async def models(self, request: web.Request) -> web.Response:
        return _json(self._engine().info())

    async def reload(self, request: web.Request) -> web.Response:
        body = (
            ReloadRequest.model_validate(await request.json()) if request.can_read_body else ReloadRequest()
        )
        if self._reload_lock.locked():
            return _error(
                409, "reload_in_progress", f"already loading {self.reloading}; retry when it is done"
            )
        try:
            engine = await self.load(body.model)
        except KeyError as error:
            return _error(404, "unknown_model", str(error.args[0]))
        except Exception as error:
            return _error(
                500,
                "reload_failed",
                f"{error}; still serving {self.engine.name if self.engine else 'nothing'}",
            )
        return _json(engine.info())

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        state: dict[str, Any] = {
            "ready": self.engine is not None,
            "model": self.engine.name if self.engine else None,
            "reloading": self.reloading,
            "last_reload_error": self.last_reload_error,
            "queue_waiting": self.scheduler.waiting,
        }
        return web.json_response(state, status=200 if self.engine is not None else 503)


async def _listen_for_metrics(sidecar: Sidecar) -> web.AppRunner | None:
    """The metrics listener, or None when its port cannot be bound.

    Generation outranks its own metrics: a taken port (another sidecar on a developer's machine) is
    logged as an error and the sidecar serves on. In a pod the port is its own, and a target that does
    not answer fires SmartSreSidecarNotReady (deploy/monitoring)."""
    port = sidecar.settings.metrics_port
    try:
        runner = await sidecar.metrics.listen(port)
    except OSError as error:
        logger.error(
            "metrics not served on their own port; GET /metrics answers on the API port only",
            extra={"port": port, "error": str(error)},
        )
        return None
    addresses = [
        f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}" for host, bound, *_ in runner.addresses
    ]
    logger.info("metrics listening on every interface", extra={"addresses": addresses})
    return runner


async def _load_when_available(sidecar: Sidecar) -> None:
    """The first load, tried again while the backend is `Unavailable` (an endpoint still starting):
    /readyz answers 503 with the reason meanwhile. Any other failure ends the start."""
    delay_s = 1.0
    while True:
        try:
            await sidecar.load()
            return
        except Unavailable as error:
            logger.warning("model not available yet", extra={"retry_in_s": delay_s, "reason": str(error)})
        await asyncio.sleep(delay_s)
        delay_s = min(2 * delay_s, RETRY_MAX_S)


async def serve(sidecar: Sidecar) -> None:
    """Listen first (so /healthz answers while the model loads), then load, then serve until cancelled.

    The API listens on `host` (127.0.0.1 in the pod); GET /metrics also listens alone on `metrics_port`
    of every interface, so Prometheus scrapes it through the Service without reaching the API."""
    runner = web.AppRunner(sidecar.app(), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, sidecar.settings.host, sidecar.settings.port)
    await site.start()
    logger.info("listening", extra={"host": sidecar.settings.host, "port": sidecar.settings.port})
    runners = [runner]
    if metrics := await _listen_for_metrics(sidecar):
        runners.append(metrics)
    sidecar.install_signal_handler()
    try:
        await _load_when_available(sidecar)
        await asyncio.Event().wait()
    finally:
        for listening in runners:
            with contextlib.suppress(Exception):
                await listening.cleanup()
        sidecar.close()
