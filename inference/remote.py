"""Bring your own endpoint: the sidecar's engine backed by an OpenAI-compatible server in the cluster.

`server.Sidecar` serves a `RemoteModels` backend exactly as it serves the local one (`server.LocalModels`):
the same queue, deadlines, cancellation, errors and metrics, because `RemoteEngine` is an engine like
`engine.Engine`. It sends the request's JSON Schema in the server's dialect (`DIALECTS`), then checks
every answer itself (`answers.check`): the server's constraint is trusted for nothing. Calls block the
scheduler's worker thread, polling the request's checkpoint while the server works, so a deadline or a
caller that goes away closes the connection at once (vLLM then aborts the generation).
"""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import select
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as JsonSchemaError

from smart_sre_inference import answers
from smart_sre_inference import prompt as prompts
from smart_sre_inference.api import (
    GenerateRequest,
    GenerateResponse,
    Message,
    ModelInfo,
    RankedCandidate,
    RankRequest,
    RankResponse,
    Timings,
    Usage,
)
from smart_sre_inference.client import _excerpt
from smart_sre_inference.errors import (
    Checkpoint,
    InferenceError,
    InvalidRequest,
    QueueFull,
    Unavailable,
)
from smart_sre_inference.grammar import close_objects, schema_key
from smart_sre_inference.settings import Dialect, EndpointSettings, Ranking

logger = logging.getLogger(__name__)

Fields = dict[str, Any]

# The request fields that carry the answer's schema, per dialect; `Dialect.AUTO` tries them in this order.
DIALECTS: dict[Dialect, Callable[[Fields], Fields]] = {
    Dialect.OPENAI: lambda schema: {
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    },
    Dialect.JSON_OBJECT: lambda schema: {"response_format": {"type": "json_object", "schema": schema}},
    Dialect.TGI: lambda schema: {"response_format": {"type": "json", "value": schema}},
    Dialect.VLLM: lambda schema: {"structured_outputs": {"json": schema}},
    Dialect.VLLM_GUIDED: lambda schema: {"guided_json": schema},
    Dialect.LLAMA_CPP: lambda schema: {"json_schema": schema},
}
UNCHOSEN_LOGPROB = -1e9  # a candidate a constrained choice passed over: likelihood 0, finite for JSON
POLL_S = 0.05  # how often a waiting call checks its deadline and its caller
PROBE_PROMPT = "Reply."  # the capability probes' prompt: their schemas, not the prompt, decide the answer
CHOICE_TOKEN_ALLOWANCE = 8  # tokens beyond a candidate's JSON-quoted length for a constrained choice


class EndpointUnreachable(Unavailable):
    """No HTTP answer at all (refused, reset, timed out): the server is down, not refusing a dialect."""


class EndpointMismatch(ValueError):
    """The endpoint answers but cannot serve as configured (model not listed, no dialect enforced):
    waiting will not help, so the sidecar refuses to start."""


def _within(seconds: float, what: str) -> Checkpoint:
    """A checkpoint for calls that no request waits on (start-up probes): gives up after `seconds`."""
    deadline = time.monotonic() + seconds

    def checkpoint() -> None:
        if time.monotonic() > deadline:
            raise EndpointUnreachable(f"{what}: no answer within {seconds:g} s")

    return checkpoint


class Endpoint:
    """JSON over HTTP to the server, one connection per call, abandoned when the checkpoint raises."""

    def __init__(self, url: str, *, key: str | None, connect_timeout_s: float) -> None:
        parts = urlsplit(url.rstrip("/").removesuffix("/v1"))
        self.url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"  # never credentials
        self._parts = parts
        self._prefix = parts.path
        self._timeout_s = connect_timeout_s
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        return kind(self._parts.hostname or "", self._parts.port, timeout=self._timeout_s)

    def call(self, method: str, path: str, body: Fields | None, checkpoint: Checkpoint) -> Any:
        """The answer's JSON; raises one of `errors.py` (`EndpointUnreachable` without an answer)."""
        checkpoint()
        call = f"{method} {path}"
        connection = self._connection()
        try:
            connection.request(
                method,
                self._prefix + path,
                body=None if body is None else json.dumps(body).encode(),
                headers=self._headers,
            )
            while not select.select([connection.sock], [], [], POLL_S)[0]:
                checkpoint()  # Cancelled or TimedOut: the connection closes below, the server stops
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as error:
            what = "timed out" if isinstance(error, TimeoutError) else str(error) or type(error).__name__
            raise EndpointUnreachable(f"{call} to the endpoint at {self.url} failed: {what}") from error
        finally:
            connection.close()
        if response.status >= 400:
            raise self._failure(call, response.status, text, response.getheader("Retry-After"))
        try:
            return json.loads(text)
        except ValueError:
            raise Unavailable(
                f"the endpoint at {self.url} answered {call} with HTTP {response.status} but no JSON: "
                f"{_excerpt(text)}"
            ) from None

    def _failure(self, call: str, status: int, text: str, retry_after: str | None) -> InferenceError:
        """What an error status means for the sidecar's caller: its own request's fault only for a 4xx
        other than 401/403/404 (credentials and model name are the sidecar's configuration)."""
        where = f"the endpoint at {self.url} answered {call} with HTTP {status}: {_excerpt(text)}"
        if status == 429:
            return QueueFull(int(retry_after) if retry_after and retry_after.isdigit() else 1, where)
        if status >= 500 or status in (401, 403, 404):
            return Unavailable(where)
        return InvalidRequest(where)


class Validators:
    """Validators of closed schemas (as the local decoder enforces them), cached by schema hash (LRU)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, Draft202012Validator] = OrderedDict()

    def get(self, schema: Fields) -> tuple[Draft202012Validator, bool, float]:
        """The validator, whether it was cached, and the seconds the lookup took."""
        started = time.perf_counter()
        key = schema_key(schema)
        validator = self._entries.get(key)
        hit = validator is not None
        if validator is None:
            closed = close_objects(schema)
            try:
                Draft202012Validator.check_schema(closed)
            except JsonSchemaError as error:
                where = "/".join(map(str, error.path)) or "/"
                raise InvalidRequest(f"invalid JSON Schema at {where}: {error.message}") from None
            validator = self._entries[key] = Draft202012Validator(closed)
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        return validator, hit, time.perf_counter() - started


class Reply:
    """One completion: its text, why it stopped, and the usage the server reported (0 where it did not)."""

    def __init__(self, payload: Any, chat: bool) -> None:
        try:
            choice = payload["choices"][0]
            self.text = (choice["message"]["content"] if chat else choice["text"]) or ""
        except (KeyError, IndexError, TypeError):
            raise Unavailable(
                f"the endpoint answered without a completion: {_excerpt(json.dumps(payload))}"
            ) from None
        self.finish_reason = choice.get("finish_reason")
        self.logprobs = choice.get("logprobs")
        usage = payload.get("usage") or {}
        self.generated: int | None = usage.get("completion_tokens")  # None: not reported
        self.usage = Usage(
            prompt_tokens=usage.get("prompt_tokens") or 0,
            cached_prompt_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
        )


class RemoteEngine:
    """An engine (`server.EngineLike`) whose model runs on the endpoint; one call per request, except
    likelihood ranking: one per candidate."""

    def __init__(
        self,
        endpoint: Endpoint,
        listed: Fields,
        *,
        dialect: Dialect,
        likelihood: bool,
        chat_template: str | None,
        validators: Validators,
    ) -> None:
        self.endpoint = endpoint
        self.listed = listed
        self.dialect = dialect
        self.likelihood = likelihood
        self.chat_template = chat_template
        self.validators = validators

    @property
    def name(self) -> str:
        return str(self.listed["id"])

    def info(self) -> ModelInfo:
        """The served model; `lock_entry` describes the endpoint, and the sidecar runs no llama.cpp."""
        meta = self.listed.get("meta") or {}
        return ModelInfo(
            name=self.name,
            lock_entry={
                "endpoint": self.endpoint.url,
                "owned_by": self.listed.get("owned_by"),
                "dialect": self.dialect.value,
                "ranking": Ranking.LIKELIHOOD.value if self.likelihood else Ranking.CHOICE.value,
            },
            context_size=int(self.listed.get("max_model_len") or meta.get("n_ctx_train") or 0),
            n_gpu_layers=0,
            gpu_offload_supported=False,
            threads=0,
            instruction_tuned=self.chat_template is not None,  # a served chat model, asked in its turns
        )

    def close(self) -> None:
        return None  # no connection outlives its call

    def _complete(
        self, request: GenerateRequest, schema: Fields, checkpoint: Checkpoint
    ) -> tuple[Reply, float]:
        """The server's answer under `schema` in this engine's dialect, and the seconds it took."""
        body: Fields = {
            "model": self.name,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            **DIALECTS[self.dialect](schema),
        }
        if request.seed is not None:
            body["seed"] = request.seed
        chat = request.messages is not None
        if chat:
            body["messages"] = [message.model_dump() for message in request.messages or []]
        else:
            body["prompt"] = request.prompt
        started = time.perf_counter()
        path = "/v1/chat/completions" if chat else "/v1/completions"
        payload = self.endpoint.call("POST", path, body, checkpoint)
        return Reply(payload, chat), time.perf_counter() - started

    def generate(self, request: GenerateRequest, checkpoint: Checkpoint) -> GenerateResponse:
        """A JSON answer that validates against the request's schema, or the local engine's error."""
        started = time.perf_counter()
        validator, hit, compile_s = self.validators.get(answers.schema_for(request))
        reply, took_s = self._complete(request, validator.schema, checkpoint)
        if reply.finish_reason == "length":
            raise answers.truncated(request.max_tokens, reply.text)
        output = answers.check(reply.text, validator)
        return GenerateResponse(
            model=self.name,
            output=output,
            text=reply.text,
            usage=reply.usage,
            timings=Timings(
                grammar_compile_ms=compile_s * 1000,
                grammar_cache_hit=hit,
                decode_ms=took_s * 1000,
                total_ms=(time.perf_counter() - started) * 1000,
            ),
        )

    # -- ranking -------------------------------------------------------------------------------

    def rank(self, request: RankRequest, checkpoint: Checkpoint) -> RankResponse:
        """Each candidate's log-likelihood when the server returns prompt log-probabilities and the
        prompt's text is known, else a constrained choice (`scoring: choice`)."""
        started = time.perf_counter()
        prefix = self._prompt_text(request)
        if self.likelihood and prefix is not None:
            ranked, usage = self._likelihoods(prefix, request.candidates, checkpoint)
            scoring = "likelihood"
        else:
            ranked, usage = self._choice(request, checkpoint)
            scoring = "choice"
        return RankResponse(
            model=self.name,
            candidates=ranked,
            best=max(range(len(ranked)), key=lambda i: ranked[i].mean_logprob),
            best_total=max(range(len(ranked)), key=lambda i: ranked[i].logprob),
            scoring=scoring,
            usage=usage,
            timings=Timings(total_ms=(time.perf_counter() - started) * 1000),
        )

    def _prompt_text(self, request: RankRequest) -> str | None:
        """The prompt as the model reads it: `messages` need the served model's chat template."""
        if request.messages is None:
            return request.prompt
        if self.chat_template is None:
            return None
        try:  # the server adds the BOS token to a /v1/completions prompt itself
            return prompts.render(self.chat_template, request.messages, bos_token="")
        except prompts.PromptError as error:
            raise InvalidRequest(str(error)) from None

    def _likelihoods(
        self, prefix: str, candidates: list[str], checkpoint: Checkpoint
    ) -> tuple[list[RankedCandidate], Usage]:
        """The prompt plus each candidate, echoed with log-probabilities: the sum over the last prompt
        tokens that cover the candidate's characters. The server tokenizes prompt and candidate
        together, so a token that straddles their boundary counts for the candidate (the local engine
        tokenizes them apart)."""
        ranked: list[RankedCandidate] = []
        prompt_tokens = cached = 0
        for text in candidates:
            body = {
                "model": self.name,
                "prompt": prefix + text,
                "echo": True,
                "logprobs": 1,
                "max_tokens": 1,
                "temperature": 0.0,
            }
            reply = Reply(self.endpoint.call("POST", "/v1/completions", body, checkpoint), chat=False)
            generated = body["max_tokens"] if reply.generated is None else reply.generated
            scores = _candidate_logprobs(reply.logprobs, len(text), generated)
            if not scores:
                raise Unavailable(
                    f"the endpoint at {self.endpoint.url} returned no prompt log-probabilities; "
                    "set SMART_SRE_ENDPOINT_RANKING=choice"
                )
            total = sum(scores)
            ranked.append(
                RankedCandidate(
                    text=text, tokens=len(scores), logprob=total, mean_logprob=total / len(scores)
                )
            )
            prompt_tokens += max(0, reply.usage.prompt_tokens - len(scores))
            cached += reply.usage.cached_prompt_tokens
        completion = sum(candidate.tokens for candidate in ranked)
        return ranked, Usage(
            prompt_tokens=prompt_tokens, cached_prompt_tokens=cached, completion_tokens=completion
        )

    def _choice(self, request: RankRequest, checkpoint: Checkpoint) -> tuple[list[RankedCandidate], Usage]:
        """One candidate picked under an enum schema: log-probability 0 for it, UNCHOSEN_LOGPROB else."""
        longest = max(len(json.dumps(candidate)) for candidate in request.candidates)
        asked = GenerateRequest(
            messages=request.messages,
            prompt=request.prompt,
            schema={"enum": request.candidates},
            max_tokens=min(4096, 2 * longest + CHOICE_TOKEN_ALLOWANCE),
        )
        answer = self.generate(asked, checkpoint)
        scores = [0.0 if text == answer.output else UNCHOSEN_LOGPROB for text in request.candidates]
        return [
            RankedCandidate(text=text, tokens=0, logprob=score, mean_logprob=score)
            for text, score in zip(request.candidates, scores, strict=True)
        ], answer.usage


def _candidate_logprobs(logprobs: Any, length: int, generated: int) -> list[float]:
    """Log-probabilities of the echoed prompt tokens that cover its last `length` characters (the
    candidate), the `generated` tokens after the prompt left out. Measured back from the prompt's end
    in the server's own offsets, which skip the text of special tokens (a chat template's markers)."""
    if not isinstance(logprobs, dict):
        return []
    prompt = len(logprobs.get("tokens") or []) - generated
    tokens = (logprobs.get("tokens") or [])[:prompt]
    offsets = (logprobs.get("text_offset") or [])[:prompt]
    values = (logprobs.get("token_logprobs") or [])[:prompt]
    if not tokens or len(offsets) != len(tokens) or len(values) != len(tokens):
        return []
    end = offsets[-1] + len(tokens[-1])
    return [
        float(value)
        for token, offset, value in zip(tokens, offsets, values, strict=True)
        if value is not None and offset + len(token) > end - length
    ]


class RemoteModels:
    """The backend (`server.Backend`) that opens the endpoint's model: GET /v1/models must list it, and
    with `auto` settings two probes decide the dialect and the ranking, so a misconfigured endpoint
    fails at start rather than at the first analysis."""

    def __init__(self, settings: EndpointSettings, *, validators: int = 32) -> None:
        if settings.url is None:
            raise ValueError("an endpoint backend needs EndpointSettings.url")
        self.settings = settings
        self._url = settings.url
        self._validators = validators

    def label(self, requested: str | None) -> str:
        return requested or self.settings.model or f"the model at {self._url}"

    def open(self, requested: str | None) -> RemoteEngine:
        """Blocking: the endpoint's model, probed; `EndpointUnreachable` while it does not answer,
        KeyError for a model it does not list, `EndpointMismatch` when it enforces no dialect."""
        endpoint = Endpoint(
            self._url, key=self.settings.key(), connect_timeout_s=self.settings.connect_timeout_s
        )
        listing = endpoint.call(
            "GET", "/v1/models", None, _within(self.settings.probe_timeout_s, "GET /v1/models")
        )
        listed = _served(listing, requested or self.settings.model, endpoint.url)
        template = self.settings.chat_template_file
        engine = RemoteEngine(
            endpoint,
            listed,
            dialect=self.settings.dialect,
            likelihood=self.settings.ranking == Ranking.LIKELIHOOD,
            chat_template=template.read_text(encoding="utf-8") if template else None,
            validators=Validators(self._validators),
        )
        if engine.dialect == Dialect.AUTO:
            engine.dialect = self._enforced_dialect(engine)
        if self.settings.ranking == Ranking.AUTO:
            engine.likelihood = self._echoes_logprobs(engine)
        logger.info("serving from an endpoint", extra=engine.info().lock_entry | {"model": engine.name})
        return engine

    def _enforced_dialect(self, engine: RemoteEngine) -> Dialect:
        """The first dialect in `DIALECTS` whose constraint the server obeys: it must answer with a
        random string it could not guess unconstrained."""
        nonce = secrets.token_hex(4)
        probe = GenerateRequest(
            messages=[Message(role="user", content=PROBE_PROMPT)], schema={"enum": [nonce]}, max_tokens=16
        )
        refused: list[str] = []
        for dialect in DIALECTS:
            engine.dialect = dialect
            try:
                engine.generate(probe, _within(self.settings.probe_timeout_s, f"the {dialect} probe"))
            except EndpointUnreachable:
                raise
            except InferenceError as error:
                refused.append(f"{dialect}: {error}")
                continue
            return dialect
        raise EndpointMismatch(
            f"the endpoint at {engine.endpoint.url} enforced none of the JSON Schema dialects; set "
            f"SMART_SRE_ENDPOINT_DIALECT if it has one ({'; '.join(refused)})"
        )

    def _echoes_logprobs(self, engine: RemoteEngine) -> bool:
        """Whether /v1/completions echoes the prompt with log-probabilities (llama-cpp-python needs
        --logits_all true, vLLM and its kin do it as they are)."""
        engine.likelihood = True
        probe = RankRequest(prompt=PROBE_PROMPT, candidates=[" Yes"])
        try:
            engine.rank(probe, _within(self.settings.probe_timeout_s, "the log-probability probe"))
        except EndpointUnreachable:
            raise
        except InferenceError as error:
            logger.info(
                "ranking by constrained choice: no prompt log-probabilities", extra={"why": str(error)}
            )
            return False
        return True


def _served(listing: Any, wanted: str | None, url: str) -> Fields:
    """The /v1/models entry of `wanted`, or of the only model listed when none is named."""
    try:
        models = {str(entry["id"]): entry for entry in listing["data"]}
    except (KeyError, TypeError):
        raise EndpointMismatch(
            f"GET /v1/models at {url} is not a model list: {_excerpt(json.dumps(listing))}"
        ) from None
    if wanted is None and len(models) == 1:
        return next(iter(models.values()))
    if wanted is None:
        raise EndpointMismatch(
            f"the endpoint at {url} serves {sorted(models) or 'no model'}; name one (SMART_SRE_ENDPOINT_MODEL)"
        )
    if wanted not in models:
        raise KeyError(f"the endpoint at {url} does not serve {wanted!r}; it serves {sorted(models)}")
    return models[wanted]
