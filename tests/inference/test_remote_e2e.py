"""Bring your own endpoint, end to end: `smart-sre inference serve --endpoint` in front of llama-cpp-python's
own OpenAI-compatible server with Gemma 3 270M (the suite's fast model, not the lock's default), driven
through `InferenceClient`.

Needs the `byo-test` extra (the server's FastAPI stack); run with `pytest -m model`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

import smart_sre_grammars as grammars
from smart_sre_harness.processes import SMART_SRE, Child, free_port
from smart_sre_inference import lock as lockfile
from smart_sre_inference import sources
from smart_sre_inference.api import GenerateRequest, Message
from smart_sre_inference.client import ClientTimeouts, InferenceClient

sys.path.insert(0, str(Path(__file__).parent))
from inference_cases import case

pytestmark = pytest.mark.model
LOCK = Path(__file__).resolve().parents[2] / "models.lock"
GEMMA = "gemma-3-270m-q4_k_m"  # its chat format is llama-cpp-python's `gemma`
ALIAS = "gemma-remote"  # the name the server lists its model under


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server on a free port, one thread, with the prompt log-probabilities that
    likelihood ranking needs (--logits_all); its chat format is the Gemma one the lock pins."""
    entry = lockfile.load(LOCK).get(GEMMA)
    weights = sources.pull(entry, lockfile.models_dir())  # $SMART_SRE_MODELS_DIR: tests/conftest.py
    port = free_port()
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(weights), "--model_alias", ALIAS]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1"]
    argv += ["--n_ctx", "1024", "--n_batch", "64", "--n_ubatch", "64", "--chat_format", "gemma"]
    server = Child([*argv, "--logits_all", "true"], tmp_path_factory.mktemp("llama") / "server.log").start()
    try:
        server.poll_until(f"http://127.0.0.1:{port}/v1/models", lambda body: ALIAS.encode() in body, 120)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sidecar(llama_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Our sidecar in endpoint mode in front of it, with the lock's chat template for ranking."""
    folder = tmp_path_factory.mktemp("sidecar")
    template = folder / "chat-template.jinja"
    template.write_text(lockfile.load(LOCK).get(GEMMA).chat_template, encoding="utf-8")
    port = free_port()
    argv = [SMART_SRE, "inference", "serve", "--port", str(port), "--endpoint", llama_server]
    argv += ["--endpoint-chat-template", str(template)]
    process = Child(argv, folder / "sidecar.log", {"SMART_SRE_INFERENCE_METRICS_PORT": "0"}).start()
    try:
        process.poll_until(f"http://127.0.0.1:{port}/readyz", lambda body: b'"ready": true' in body, 180)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


async def test_a_constrained_generation_through_the_endpoint_fits_its_contract(sidecar: str) -> None:
    request = GenerateRequest.model_validate(case(1))  # the `final` contract, as the agent asks it
    assert request.grammar is not None
    async with InferenceClient(sidecar) as client:
        answer = await client.generate(
            messages=request.messages, grammar=request.grammar, max_tokens=request.max_tokens
        )
    jsonschema.validate(answer.output, grammars.render("final", request.grammar.values))
    assert answer.model == ALIAS
    assert answer.usage.completion_tokens > 0


async def test_rank_scores_every_candidate_by_likelihood(sidecar: str) -> None:
    question = [Message(role="user", content="What is the capital of France? Answer with one word.")]
    # Likelihood ranking costs one completion per candidate on a one-thread server: this checks the
    # ranking, not its speed, so a busy machine may take minutes.
    async with InferenceClient(sidecar, timeouts=ClientTimeouts(read_timeout_s=600)) as client:
        ranking = await client.rank(messages=question, candidates=["Paris", "Quokkaville"])
    assert ranking.scoring == "likelihood"
    assert [c.text for c in ranking.candidates] == ["Paris", "Quokkaville"]
    assert all(c.tokens > 0 and c.logprob < 0 for c in ranking.candidates)
    assert ranking.candidates[ranking.best].text == "Paris"


async def test_models_name_the_remote_model_and_how_it_is_reached(sidecar: str, llama_server: str) -> None:
    async with InferenceClient(sidecar) as client:
        info = await client.models()
        assert await client.ready()
    assert info.name == ALIAS
    assert info.lock_entry["endpoint"] == llama_server.removesuffix("/v1")
    assert info.lock_entry["dialect"] == "json-object"  # llama-cpp-python refuses json_schema, obeys this
    assert info.lock_entry["ranking"] == "likelihood"
