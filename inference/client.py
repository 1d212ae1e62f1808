"""A typed async client for the sidecar, used by the operator and the agent.

    async with InferenceClient("http://127.0.0.1:8081") as client:
        step = await client.generate(messages=[...], grammar=GrammarRef(name="step", values=...))
        ranking = await client.rank(messages=[...], candidates=["OOMKilled", "ImagePull"])

`local.LocalInference` offers the same methods over an in-process engine, and `local.connect()`
picks whichever is available. Errors are the exception types of `errors.py` either way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self

import aiohttp

from smart_sre_inference.api import (
    GenerateRequest,
    GenerateResponse,
    GrammarRef,
    Message,
    ModelInfo,
    RankRequest,
    RankResponse,
)
from smart_sre_inference.errors import (
    Cancelled,
    InferenceError,
    InvalidRequest,
    NotReady,
    QueueFull,
    TimedOut,
    Unprocessable,
)

_BY_STATUS: dict[int, type[InferenceError]] = {
    400: InvalidRequest,
    422: Unprocessable,
    499: Cancelled,
    503: NotReady,
    504: TimedOut,
}


# Where clients find the sidecar: the operator and `smart-sre diagnose` share these.
URL_ENV = "SMART_SRE_INFERENCE_URL"
DEFAULT_URL = "http://127.0.0.1:8081"


class Inference(ABC):
    """The calls the agent makes; subclasses say how a request reaches an engine."""

    @abstractmethod
    async def _generate(self, request: GenerateRequest) -> GenerateResponse: ...

    @abstractmethod
    async def _rank(self, request: RankRequest) -> RankResponse: ...

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def generate(
        self,
        *,
        messages: list[Message] | None = None,
        prompt: str | None = None,
        schema: dict[str, Any] | None = None,
        grammar: GrammarRef | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
        timeout_s: float | None = None,
    ) -> GenerateResponse:
        """`output` validates against `schema` (or the rendered grammar); anything else raises."""
        request = GenerateRequest.model_validate(
            {
                "messages": messages,
                "prompt": prompt,
                "schema": schema,
                "grammar": grammar,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "seed": seed,
                "timeout_s": timeout_s,
            }
        )
        return await self._generate(request)

    async def rank(
        self,
        *,
        candidates: list[str],
        messages: list[Message] | None = None,
        prompt: str | None = None,
        timeout_s: float | None = None,
    ) -> RankResponse:
        """Log-probability of each candidate continuing the prompt; `best` is the highest mean."""
        return await self._rank(
            RankRequest(messages=messages, prompt=prompt, candidates=candidates, timeout_s=timeout_s)
        )

    @abstractmethod
    async def models(self) -> ModelInfo: ...

    @abstractmethod
    async def health(self) -> bool:
        """True when the engine answers at all (it may still be loading)."""

    @abstractmethod
    async def ready(self) -> bool:
        """True when a verified, warmed-up model serves requests."""


class InferenceClient(Inference):
    def __init__(self, base_url: str = "http://127.0.0.1:8081", *, timeout_s: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self._http().request(method, self.base_url + path, json=body) as response:
            payload = await response.json(content_type=None)
            if response.status == 429:
                raise QueueFull(int(response.headers.get("Retry-After", "1")))
            if response.status >= 400:
                message = (payload or {}).get("error", {}).get("message", str(payload))
                raise _BY_STATUS.get(response.status, InferenceError)(message)
            return payload

    async def _generate(self, request: GenerateRequest) -> GenerateResponse:
        body = request.model_dump(by_alias=True, exclude_none=True, mode="json")
        payload = await self._call("POST", "/v1/generate", body)
        return GenerateResponse.model_validate(payload)

    async def _rank(self, request: RankRequest) -> RankResponse:
        payload = await self._call("POST", "/v1/rank", request.model_dump(exclude_none=True, mode="json"))
        return RankResponse.model_validate(payload)

    async def models(self) -> ModelInfo:
        payload = await self._call("GET", "/v1/models")
        return ModelInfo.model_validate(payload)

    async def health(self) -> bool:
        """True when the sidecar answers at all (it may still be loading)."""
        try:
            await self._call("GET", "/healthz")
        except (aiohttp.ClientError, TimeoutError, InferenceError):
            return False
        return True

    async def ready(self) -> bool:
        """True when a verified, warmed-up model serves requests."""
        try:
            payload = await self._call("GET", "/readyz")
        except (aiohttp.ClientError, TimeoutError, InferenceError):
            return False
        return bool(payload.get("ready"))

    async def reload(self, model: str | None = None) -> ModelInfo:
        payload = await self._call("POST", "/v1/admin/reload", {"model": model} if model else {})
        return ModelInfo.model_validate(payload)
