"""The client interface over an in-process engine, for when no sidecar answers."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from smart_sre_inference import lock as lockfile
from smart_sre_inference.api import GenerateRequest, GenerateResponse, ModelInfo, RankRequest, RankResponse
from smart_sre_inference.client import DEFAULT_URL, URL_ENV, Inference, InferenceClient
from smart_sre_inference.resolver import ModelResolver
from smart_sre_inference.settings import EngineSettings

if TYPE_CHECKING:  # llama.cpp is imported only when a model is loaded in-process
    from smart_sre_inference.engine import Engine

logger = logging.getLogger(__name__)


class LocalInference(Inference):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = asyncio.Lock()  # one generation at a time on the context, as in the sidecar

    @classmethod
    def load(
        cls,
        model: str | None = None,
        *,
        lock: str | None = None,
        models_dir: str | None = None,
        settings: EngineSettings | None = None,
    ) -> LocalInference:
        """Verify and load a models.lock entry (blocking: seconds)."""
        from smart_sre_inference.engine import Engine

        resolver = ModelResolver(lockfile.lock_path(lock), lockfile.models_dir(models_dir), model)
        engine = Engine.load(resolver.resolve(), resolver.models_dir, settings or EngineSettings.from_env())
        return cls(engine)

    async def _generate(self, request: GenerateRequest) -> GenerateResponse:
        async with self._lock:
            return await asyncio.to_thread(self.engine.generate, request)

    async def _rank(self, request: RankRequest) -> RankResponse:
        async with self._lock:
            return await asyncio.to_thread(self.engine.rank, request)

    async def models(self) -> ModelInfo:
        return self.engine.info()

    async def health(self) -> bool:
        return True

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        self.engine.close()


async def connect(url: str | None = None, *, model: str | None = None) -> Inference:
    """The sidecar at `url` ($SMART_SRE_INFERENCE_URL, default 127.0.0.1:8081) when it is ready, else an
    in-process engine for the default (or named) model."""
    client = InferenceClient(url or os.environ.get(URL_ENV) or DEFAULT_URL)
    if await client.ready():
        return client
    await client.close()
    logger.info("no sidecar answers; loading the model in-process", extra={"url": client.base_url})
    return await asyncio.to_thread(LocalInference.load, model)
