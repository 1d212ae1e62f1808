"""Bring your own endpoint: the sidecar serving from an OpenAI-compatible server, here a scripted fake.

The fake (test_client.FakeSidecar with OpenAI routes) enforces nothing unless told: what the sidecar
returns must still fit the schema, and fail as the local engine fails when it does not. The real
server (llama-cpp-python's) runs in test_remote_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from smart_sre_harness.processes import free_port
from smart_sre_inference.api import GrammarRef, Message
from smart_sre_inference.client import InferenceClient
from smart_sre_inference.errors import InvalidRequest, NotReady, QueueFull, TimedOut, Unprocessable
from smart_sre_inference.remote import UNCHOSEN_LOGPROB, EndpointMismatch, RemoteModels
from smart_sre_inference.server import Sidecar, serve
from smart_sre_inference.settings import EndpointSettings, ServerSettings

sys.path.insert(0, str(Path(__file__).parent))
from test_client import FakeSidecar

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MODELS = "/v1/models"
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ASK = [Message(role="user", content="Which city?")]
PROSE = "Sure! The capital of France is Paris."
Body = dict[str, Any]


def listing(*names: str) -> Callable[[Body], Body]:
    return lambda _body: {
        "object": "list",
        "data": [{"id": n, "object": "model", "owned_by": "t"} for n in names],
    }


def completion(text: str, finish_reason: str = "stop") -> Body:
    return {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 2}},
    }


def obeying(schema_at: Callable[[Body], Any], fitting: str = '{"city":"Paris"}') -> Callable[[Body], Body]:
    """A server that enforces the schema it finds with `schema_at` (an enum: its first value) and
    ignores the other dialects' fields, answering prose."""

    def answer(body: Body) -> Body:
        try:
            schema = schema_at(body)
        except (KeyError, TypeError):
            return completion(PROSE)
        return completion(json.dumps(schema["enum"][0]) if "enum" in schema else fitting)

    return answer


def openai_schema(body: Body) -> Any:
    return body["response_format"]["json_schema"]["schema"]


def tgi_schema(body: Body) -> Any:
    assert body["response_format"]["type"] == "json"
    return body["response_format"]["value"]


def echoed(body: Body) -> Body:
    """/v1/completions with echo: the prompt, one token per word, then one generated token; each word's
    log-probability is minus its length (the first None, as OpenAI has it)."""
    tokens = [*re.findall(r"\s*\S+", body["prompt"]), " then"]
    offsets = [sum(map(len, tokens[:i])) for i in range(len(tokens))]
    values = [None, *(-float(len(token.strip())) for token in tokens[1:])]
    logprobs = {"tokens": tokens, "text_offset": offsets, "token_logprobs": values}
    return {
        "choices": [{"text": "".join(tokens), "logprobs": logprobs, "finish_reason": "length"}],
        "usage": {"prompt_tokens": len(tokens) - 1, "completion_tokens": 1},
    }


class Recording(FakeSidecar):
    """Also keeps each request's Authorization header."""

    def __init__(self, answers: dict[str, Callable[[Body], Body]]) -> None:
        super().__init__(answers)
        self.authorization: list[str | None] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.authorization.append(request.headers.get("Authorization"))
        return await super()._handle(request)


@asynccontextmanager
async def endpoint(answers: dict[str, Callable[[Body], Body]] | None = None) -> AsyncIterator[Recording]:
    """An OpenAI-compatible fake serving "big-model": it obeys the openai dialect and echoes
    log-probabilities unless `answers` replaces a route."""
    routes = {MODELS: listing("big-model"), CHAT: obeying(openai_schema), COMPLETIONS: echoed}
    async with Recording({**routes, **(answers or {})}) as fake:
        yield fake


@asynccontextmanager
async def sidecar_over(fake: FakeSidecar, **settings: Any) -> AsyncIterator[tuple[Sidecar, InferenceClient]]:
    """The sidecar in endpoint mode against `fake`, loaded, and a client of it."""
    backend = RemoteModels(EndpointSettings(url=fake.url + "/v1", **settings))
    sidecar = Sidecar.over(backend, ServerSettings(request_timeout_s=30, metrics_port=0))
    await sidecar.load()
    async with (
        TestServer(sidecar.app(), handler_cancellation=True) as server,
        InferenceClient(str(server.make_url("")).rstrip("/")) as client,
    ):
        yield sidecar, client
    sidecar.close()


async def until(http: aiohttp.ClientSession, url: str, wanted: Callable[[Body], Any]) -> Body:
    """GET /readyz until `wanted` says yes (within 10 s: the sidecar retries after 1 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            async with http.get(url + "/readyz") as response:
                state = await response.json()
            if wanted(state):
                return state
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz never showed what was wanted; last: {state}")


def sent(fake: FakeSidecar, path: str) -> list[Body]:
    return fake.bodies.get(path, [])


async def metric(client: InferenceClient, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(client.base_url + "/metrics") as response:
        text = await response.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def test_generate_returns_schema_valid_json_and_counts_as_the_local_engine_does() -> None:
    async with endpoint() as fake, sidecar_over(fake) as (_, client):
        first = await client.generate(messages=ASK, schema=CITY)
        second = await client.generate(messages=ASK, schema=CITY)
        info = await client.models()
        tokens = await metric(client, "smart_sre_inference_prompt_tokens_total")
        hits = await metric(client, "smart_sre_inference_grammar_cache_hits_total")
    assert first.output == {"city": "Paris"}
    assert first.model == info.name == "big-model"
    assert (first.usage.prompt_tokens, first.usage.cached_prompt_tokens, first.usage.completion_tokens) == (
        7,
        2,
        3,
    )
    assert (first.timings.grammar_cache_hit, second.timings.grammar_cache_hit) == (False, True)
    assert (tokens, hits) == (14, 1)
    assert info.lock_entry == {
        "endpoint": fake.url,
        "owned_by": "t",
        "dialect": "openai",
        "ranking": "likelihood",
    }
    assert info.instruction_tuned is False  # no chat template given: its turns are unknown, text is asked
    asked = sent(fake, CHAT)[-1]
    assert asked["model"] == "big-model"
    assert asked["messages"] == [{"role": "user", "content": "Which city?"}]
    # the schema the local decoder would enforce: objects closed to extra properties
    assert openai_schema(asked) == {**CITY, "additionalProperties": False}


async def test_a_grammar_template_is_rendered_before_it_is_sent() -> None:
    final = (
        '{"findings":{"summary":"out of memory","rootCause":"OOMKilled","confidence":"high","evidence":[1]}}'
    )
    values = {"root_causes": ["OOMKilled"], "steps": [1]}
    async with (
        endpoint({CHAT: obeying(openai_schema, fitting=final)}) as fake,
        sidecar_over(fake) as (_, client),
    ):
        answer = await client.generate(messages=ASK, grammar=GrammarRef(name="final", values=values))
    assert answer.output["findings"]["rootCause"] == "OOMKilled"
    assert openai_schema(sent(fake, CHAT)[-1])["properties"]["findings"]["properties"]["rootCause"] == {
        "enum": ["OOMKilled"]
    }


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        (PROSE, "the model's answer is not JSON"),
        ('{"city": 7}', "the model's answer does not fit the schema at city: 7 is not of type 'string'"),
        ('{"city": "Paris", "mayor": "x"}', "the model's answer does not fit the schema at /: Additional"),
    ],
)
async def test_an_answer_that_breaks_the_schema_is_refused_as_the_local_engine_refuses_it(
    text: str, refused: str
) -> None:
    garbage = {CHAT: lambda _body: completion(text)}
    async with endpoint(garbage) as fake, sidecar_over(fake, dialect="openai") as (_, client):
        with pytest.raises(Unprocessable) as error:
            await client.generate(messages=ASK, schema=CITY)
        failures = await metric(client, "smart_sre_inference_validation_failures_total")
    assert str(error.value).startswith(refused)
    assert failures == 1


async def test_an_answer_cut_short_is_refused_as_truncated() -> None:
    cut = {CHAT: lambda _body: completion('{"city": "Par', "length")}
    async with endpoint(cut) as fake, sidecar_over(fake, dialect="openai") as (_, client):
        with pytest.raises(Unprocessable, match="truncated: the answer did not complete within max_tokens=5"):
            await client.generate(messages=ASK, schema=CITY, max_tokens=5)


async def test_auto_tries_the_dialects_in_order_and_keeps_the_first_the_server_enforces() -> None:
    async with endpoint({CHAT: obeying(tgi_schema)}) as fake:
        fake.fail(CHAT, web.json_response({"error": {"message": "unknown response_format"}}, status=400))
        async with sidecar_over(fake) as (_, client):
            info = await client.models()
            answer = await client.generate(messages=ASK, schema=CITY)
    assert info.lock_entry["dialect"] == "tgi"
    assert answer.output == {"city": "Paris"}
    probes = [body.get("response_format", {}).get("type") for body in sent(fake, CHAT)[:3]]
    assert probes == ["json_schema", "json_object", "json"]  # openai refused, json-object ignored, tgi


async def test_an_endpoint_that_enforces_no_dialect_is_refused_at_start() -> None:
    async with endpoint({CHAT: lambda _body: completion(PROSE)}) as fake:
        with pytest.raises(EndpointMismatch, match="enforced none of the JSON Schema dialects") as error:
            await asyncio.to_thread(RemoteModels(EndpointSettings(url=fake.url)).open, None)
    for dialect in ("openai", "json-object", "tgi", "vllm", "vllm-guided", "llama.cpp"):
        assert f"{dialect}: the model's answer is not JSON" in str(error.value)


async def test_the_model_must_be_named_when_the_endpoint_serves_several() -> None:
    async with endpoint({MODELS: listing("small", "large")}) as fake:
        with pytest.raises(EndpointMismatch, match=r"serves \['large', 'small'\]; name one"):
            await asyncio.to_thread(RemoteModels(EndpointSettings(url=fake.url)).open, None)
        async with sidecar_over(fake, model="large") as (_, client):
            assert (await client.models()).name == "large"
            switched = await client.reload("small")
            with pytest.raises(InvalidRequest, match="does not serve 'medium'"):
                await client.reload("medium")
            assert (await client.models()).name == switched.name == "small"
    assert {body["model"] for body in sent(fake, CHAT)} == {"large", "small"}


async def test_the_sidecar_is_not_ready_until_the_endpoint_answers() -> None:
    async with endpoint() as fake:
        fake.fail(MODELS, web.Response(status=503, text="loading"))
        settings = ServerSettings(port=free_port(), metrics_port=0)
        sidecar = Sidecar.over(RemoteModels(EndpointSettings(url=fake.url)), settings)
        serving = asyncio.create_task(serve(sidecar))
        url = f"http://127.0.0.1:{settings.port}"
        async with InferenceClient(url) as client, aiohttp.ClientSession() as http:
            waiting = await until(http, url, lambda state: state["last_reload_error"])
            assert not waiting["ready"]
            assert waiting["last_reload_error"].endswith(
                f"{fake.url} answered GET /v1/models with HTTP 503: loading"
            )
            assert (await until(http, url, lambda state: state["ready"]))["model"] == "big-model"
            assert (await client.models()).name == "big-model"
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving


async def test_a_deadline_abandons_the_call_and_frees_the_worker() -> None:
    async with endpoint() as fake, sidecar_over(fake) as (_, client):
        fake.fail(CHAT, "hang")
        started = time.monotonic()
        with pytest.raises(TimedOut, match=r"longer than its timeout of 0\.5s"):
            await client.generate(messages=ASK, schema=CITY, timeout_s=0.5)
        assert time.monotonic() - started < 3
        assert (await client.generate(messages=ASK, schema=CITY)).output == {"city": "Paris"}


@pytest.mark.parametrize(
    ("answer", "raised", "said"),
    [
        (web.Response(status=429, headers={"Retry-After": "7"}), QueueFull, "HTTP 429"),
        (web.Response(status=500, text="CUDA out of memory"), NotReady, "HTTP 500: CUDA out of memory"),
        (
            web.json_response({"error": {"message": "too long"}}, status=400),
            InvalidRequest,
            "HTTP 400: too long",
        ),
    ],
)
async def test_endpoint_failures_become_the_sidecars_own(
    answer: web.Response, raised: type[Exception], said: str
) -> None:
    async with endpoint() as fake, sidecar_over(fake) as (_, client):
        fake.fail(CHAT, answer)
        with pytest.raises(raised, match=said) as error:
            await client.generate(messages=ASK, schema=CITY)
    if isinstance(error.value, QueueFull):
        assert error.value.retry_after_s == 7


async def test_rank_sums_the_echoed_log_probabilities_of_each_candidate(tmp_path: Path) -> None:
    template = tmp_path / "template.jinja"
    template.write_text("{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}<assistant>")
    async with endpoint() as fake, sidecar_over(fake, chat_template_file=template) as (_, client):
        ranking = await client.rank(prompt="The answer is", candidates=[" yes", " maybe not"])
        chat = await client.rank(messages=ASK, candidates=["Paris", "Lyon"])
        info = await client.models()
    assert info.instruction_tuned  # its chat template is known: the operator asks it in turns
    assert ranking.scoring == "likelihood"
    assert [(c.tokens, c.logprob, c.mean_logprob) for c in ranking.candidates] == [(1, -3, -3), (2, -8, -4)]
    assert (ranking.best, ranking.best_total) == (0, 0)
    assert chat.scoring == "likelihood"
    prompts = [body["prompt"] for body in sent(fake, COMPLETIONS)[-2:]]
    assert prompts == ["<user>Which city?\n<assistant>Paris", "<user>Which city?\n<assistant>Lyon"]
    assert all(body["echo"] and body["max_tokens"] == 1 for body in sent(fake, COMPLETIONS))


async def test_without_log_probabilities_rank_is_a_constrained_choice_and_says_so() -> None:
    no_logprobs = {COMPLETIONS: lambda _body: {"choices": [{"text": "x", "logprobs": None}]}}
    async with endpoint(no_logprobs) as fake, sidecar_over(fake) as (_, client):
        ranking = await client.rank(messages=ASK, candidates=["Paris", "Lyon"])
        info = await client.models()
    assert info.lock_entry["ranking"] == "choice"
    assert ranking.scoring == "choice"
    assert [c.logprob for c in ranking.candidates] == [0.0, UNCHOSEN_LOGPROB]
    assert ranking.best == 0
    assert openai_schema(sent(fake, CHAT)[-1]) == {"enum": ["Paris", "Lyon"]}


async def test_the_api_key_goes_to_the_endpoint_and_nowhere_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = tmp_path / "key"
    key.write_text("s3cr3t-token\n")
    caplog.set_level(logging.DEBUG)
    async with endpoint() as fake, sidecar_over(fake, api_key_file=key) as (_, client):
        await client.generate(messages=ASK, schema=CITY)
        info = await client.models()
    assert set(fake.authorization) == {"Bearer s3cr3t-token"}
    assert "s3cr3t" not in caplog.text + info.model_dump_json()
    assert "s3cr3t" not in repr(EndpointSettings(url=fake.url, api_key="s3cr3t-token"))


def test_endpoint_settings_come_from_the_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART_SRE_ENDPOINT_URL", "http://vllm.inference.svc:8000/v1")
    monkeypatch.setenv("SMART_SRE_ENDPOINT_MODEL", "qwen")
    monkeypatch.setenv("SMART_SRE_ENDPOINT_DIALECT", "vllm")
    monkeypatch.setenv("SMART_SRE_ENDPOINT_API_KEY", "k")
    settings = EndpointSettings.from_env(model="llama", ranking="choice")
    assert (settings.url, settings.model, settings.dialect, settings.ranking) == (
        "http://vllm.inference.svc:8000/v1",
        "llama",
        "vllm",
        "choice",
    )
    assert settings.key() == "k"
    assert EndpointSettings().url is None  # unset: the local model
