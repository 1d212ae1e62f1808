"""A typed async client for the sidecar, used by the operator and the agent.

    async with InferenceClient("http://127.0.0.1:8081") as client:
        step = await client.generate(messages=[...], grammar=GrammarRef(name="step", values=...))
        ranking = await client.rank(messages=[...], candidates=["OOMKilled", "ImagePull"])

`local.LocalInference` offers the same methods over an in-process engine, and `local.connect()`
picks whichever is available. Errors are the exception types of `errors.py` either way.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

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
    Unavailable,
    Unprocessable,
)

# Answers the request itself caused; any other 4xx is read as an invalid request, any other 5xx as a
# sidecar that is unavailable for now.
_BY_STATUS: dict[int, type[InferenceError]] = {
    422: Unprocessable,
    499: Cancelled,
    504: TimedOut,
}
EXCERPT_CHARS = 200  # of an error body quoted in an exception (and so in a report's condition)
_Request = TypeVar("_Request", GenerateRequest, RankRequest)

# Where clients find the sidecar: the operator and `smart-sre diagnose` share these.
URL_ENV = "SMART_SRE_INFERENCE_URL"
DEFAULT_URL = "http://127.0.0.1:8081"
TIMEOUTS_ENV_PREFIX = "SMART_SRE_INFERENCE_"  # + CONNECT_TIMEOUT_S, READ_TIMEOUT_S, PROBE_TIMEOUT_S


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


class ClientTimeouts(BaseModel):
    """How long the client waits on the sidecar before it counts as unavailable (`errors.Unavailable`:
    retry later) instead of waiting on: a sidecar that accepts a connection and never answers must not
    hold an analysis for its whole wall-clock budget (300 s), nor the analysis slot other reports wait for.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect_timeout_s: float = Field(
        default=5.0, gt=0, description="to connect; the sidecar runs in the same pod"
    )
    read_timeout_s: float = Field(
        default=180.0,
        gt=0,
        description=(
            "for an answer to start (and between its bytes): room for the default model, slow on a shared"
            " 2-core CPU; the evals ran with 180"
        ),
    )
    probe_timeout_s: float = Field(
        default=3.0, gt=0, description="for /healthz and /readyz, answered at once even while the model works"
    )

    @classmethod
    def from_env(cls) -> ClientTimeouts:
        """SMART_SRE_INFERENCE_CONNECT_TIMEOUT_S, SMART_SRE_INFERENCE_READ_TIMEOUT_S, ..._PROBE_TIMEOUT_S."""
        names = {name: TIMEOUTS_ENV_PREFIX + name.upper() for name in cls.model_fields}
        values: dict[str, object] = {
            name: os.environ[env] for name, env in names.items() if env in os.environ
        }
        return cls.model_validate(values)

    @property
    def deadline_s(self) -> float:
        """The `timeout_s` a request asks the sidecar for at most: short of the read timeout, so a slow
        sidecar answers 504 (`TimedOut`, a late answer) and only a silent one times out here."""
        return self.read_timeout_s * 0.8


class InferenceClient(Inference):
    """The sidecar over HTTP. Every failure is one of `errors.py`: what the request caused
    (`InvalidRequest`, `Unprocessable`, `TimedOut`) comes back the same if asked again; `Unavailable`
    (no connection, no answer within `ClientTimeouts`, a 5xx, 429, 503) names the URL and what happened,
    and is worth retrying later."""

    def __init__(self, base_url: str = DEFAULT_URL, *, timeouts: ClientTimeouts | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or ClientTimeouts.from_env()
        self._read = aiohttp.ClientTimeout(
            sock_connect=self.timeouts.connect_timeout_s, sock_read=self.timeouts.read_timeout_s
        )
        self._probe = aiohttp.ClientTimeout(
            total=self.timeouts.probe_timeout_s, sock_connect=self.timeouts.connect_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()  # each call passes its own timeout
        return self._session

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, probe: bool = False
    ) -> dict[str, Any]:
        """The answer's JSON body; raises one of `errors.py`, never an aiohttp or timeout error."""
        call = f"{method} {path}"
        timeout = self._probe if probe else self._read
        try:
            async with self._http().request(
                method, self.base_url + path, json=body, timeout=timeout
            ) as response:
                text = (await response.read()).decode("utf-8", errors="replace")
        except aiohttp.ConnectionTimeoutError as error:
            raise Unavailable(
                f"no connection to the sidecar at {self.base_url} within {self.timeouts.connect_timeout_s:g} s",
                reason="SidecarTimedOut",
            ) from error
        except TimeoutError as error:  # aiohttp's read timeout, or the probe's total
            waited = self.timeouts.probe_timeout_s if probe else self.timeouts.read_timeout_s
            raise Unavailable(
                f"the sidecar at {self.base_url} did not answer {call} within {waited:g} s",
                reason="SidecarTimedOut",
            ) from error
        except aiohttp.ClientError as error:
            raise Unavailable(
                f"{call} to the sidecar at {self.base_url} failed: {str(error) or type(error).__name__}"
            ) from error
        if response.status >= 400:
            raise self._failure(call, response.status, text, response.headers.get("Retry-After"))
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise Unavailable(
                f"the sidecar at {self.base_url} answered {call} with HTTP {response.status} but no JSON: {_excerpt(text)}",
                reason="SidecarError",
            ) from error

    def _failure(self, call: str, status: int, text: str, retry_after: str | None) -> InferenceError:
        """The error an HTTP error status stands for."""
        detail = _excerpt(text)
        where = f"the sidecar at {self.base_url} answered {call} with HTTP {status}: {detail}"
        if status == 429:
            seconds = int(retry_after) if retry_after and retry_after.isdigit() else 1
            return QueueFull(seconds, where)
        if status == 503:
            return NotReady(where)
        if status >= 500 and status not in _BY_STATUS:
            return Unavailable(where, reason="SidecarError")
        return _BY_STATUS.get(status, InvalidRequest)(detail)

    async def _generate(self, request: GenerateRequest) -> GenerateResponse:
        body = self._within_deadline(request).model_dump(by_alias=True, exclude_none=True, mode="json")
        payload = await self._call("POST", "/v1/generate", body)
        return GenerateResponse.model_validate(payload)

    async def _rank(self, request: RankRequest) -> RankResponse:
        body = self._within_deadline(request).model_dump(exclude_none=True, mode="json")
        payload = await self._call("POST", "/v1/rank", body)
        return RankResponse.model_validate(payload)

    def _within_deadline(self, request: _Request) -> _Request:
        """`request` asking the sidecar to give up before this client stops waiting for it."""
        deadline = min(request.timeout_s or self.timeouts.deadline_s, self.timeouts.deadline_s)
        return request.model_copy(update={"timeout_s": deadline})

    async def models(self) -> ModelInfo:
        payload = await self._call("GET", "/v1/models")
        return ModelInfo.model_validate(payload)

    async def health(self) -> bool:
        """True when the sidecar answers at all (it may still be loading)."""
        try:
            await self._call("GET", "/healthz", probe=True)
        except InferenceError:
            return False
        return True

    async def ready(self) -> bool:
        """True when a verified, warmed-up model serves requests."""
        try:
            await self.require_ready()
        except InferenceError:
            return False
        return True

    async def require_ready(self) -> None:
        """Raise `Unavailable` saying why, unless a verified, warmed-up model serves requests."""
        payload = await self._call("GET", "/readyz", probe=True)
        if not payload.get("ready"):
            raise NotReady(
                f"the sidecar at {self.base_url} is not ready: GET /readyz answered {_excerpt(json.dumps(payload))}"
            )

    async def reload(self, model: str | None = None) -> ModelInfo:
        payload = await self._call("POST", "/v1/admin/reload", {"model": model} if model else {})
        return ModelInfo.model_validate(payload)


def _excerpt(body: str) -> str:
    """An error body as one short printable line: the sidecar's `error.message` when it sent one."""
    try:
        text = str(json.loads(body)["error"]["message"])
    except (json.JSONDecodeError, KeyError, TypeError):
        text = body
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split()) or "(empty body)"
    return line if len(line) <= EXCERPT_CHARS else line[: EXCERPT_CHARS - 1] + "…"
