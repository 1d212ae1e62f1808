"""Inference sidecar benchmark: every figure of docs/benchmarks.md (inference section), in one run.

    HF_HUB_OFFLINE=1 SMART_SRE_MODELS_DIR=.models .venv/bin/python benchmarks/inference.py

Measures, side by side on the same prompts: grammar compile time (cold, cached) per contract;
constrained vs unconstrained decode speed; the sidecar's end-to-end speed over HTTP vs raw
llama-cpp-python `create_completion` (the ceiling) and vs Outlines' llguidance backend; prompt tokens
evaluated per step of a 6-step investigation with and without prefix reuse; time to first token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import aiohttp
import llama_cpp
from aiohttp.test_utils import TestServer

import smart_sre_grammars as grammars
from smart_sre_inference import lock as lockfile
from smart_sre_inference import sources
from smart_sre_inference.api import GenerateRequest, Message
from smart_sre_inference.engine import Engine
from smart_sre_inference.grammar import GrammarCache
from smart_sre_inference.prompt import render as render_prompt
from smart_sre_inference.resolver import ModelResolver
from smart_sre_inference.server import Sidecar
from smart_sre_inference.settings import EngineSettings, ServerSettings

ROOT = Path(__file__).resolve().parents[1]
DECODE_TOKENS = 96
sys.path.insert(0, str(ROOT / "tests" / "inference"))
from inference_cases import case, messages  # noqa: E402


def _table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print(
            "| " + " | ".join(f"{cell:.1f}" if isinstance(cell, float) else str(cell) for cell in row) + " |"
        )


def _requests(count: int) -> list[GenerateRequest]:
    return [
        GenerateRequest.model_validate(case(index))
        for index in sorted(range(count), key=lambda i: (i % 2, i))
    ]


def compile_times(engine: Engine) -> None:
    rows = []
    for index, contract in enumerate(grammars.NAMES):
        schema = engine.schema_for(GenerateRequest.model_validate(case(index)))
        cache = GrammarCache(engine.llg_tokenizer, capacity=4)
        _, hit, cold = cache.get(schema)
        assert not hit
        lookups = []
        for _ in range(200):
            _, hit, seconds = cache.get(schema)
            lookups.append(seconds)
        rows.append(
            [
                contract,
                len(json.dumps(schema)),
                cold * 1000,
                statistics.median(lookups) * 1000,
                max(lookups) * 1000,
            ]
        )
    _table(
        "Grammar compile (llguidance), per contract",
        [
            "contract",
            "schema bytes",
            "cold compile ms",
            "cached lookup ms (median)",
            "cached lookup ms (max)",
        ],
        rows,
    )


def decode_speeds(engine: Engine, requests: list[GenerateRequest]) -> None:
    """Decode only (prompt evaluation excluded), same prompts, greedy, at most DECODE_TOKENS each."""
    totals: dict[str, list[float]] = {
        "unconstrained": [0, 0],
        "constrained, every token sampled": [0, 0],
        "constrained + forced tokens": [0, 0],
    }
    for request in requests:
        prompt = engine.tokenize_prompt(request)
        compiled, _, _ = engine.grammars.get(engine.schema_for(request))
        free = engine.decode(prompt, None, max_tokens=DECODE_TOKENS)
        totals["unconstrained"][0] += len(free.tokens)
        totals["unconstrained"][1] += free.decode_s
        for label, forced in (
            ("constrained, every token sampled", False),
            ("constrained + forced tokens", True),
        ):
            engine.settings.forced_tokens = forced
            run = engine.decode(prompt, compiled, max_tokens=DECODE_TOKENS)
            totals[label][0] += len(run.tokens)
            totals[label][1] += run.decode_s
    engine.settings.forced_tokens = True
    base = totals["unconstrained"][0] / totals["unconstrained"][1]
    rows = [
        [label, int(tokens), seconds, tokens / seconds, f"{tokens / seconds / base:.2f}x"]
        for label, (tokens, seconds) in totals.items()
    ]
    _table(
        f"Decode speed on {len(requests)} prompts (prompt evaluation excluded)",
        ["mode", "tokens", "seconds", "tokens/s", "vs unconstrained"],
        rows,
    )


def end_to_end(
    engine: Engine, raw: llama_cpp.Llama, requests: list[GenerateRequest], directory: Path
) -> None:
    """Whole requests, prompt evaluation included, in sequence (so prefix caches work as in use).

    The sidecar runs first; raw llama-cpp-python then generates exactly as many tokens per prompt
    (unconstrained: the ceiling), and Outlines decodes the same schemas.
    """
    prompts = [render_prompt(engine.entry.chat_template, r.messages or [], bos_token="") for r in requests]
    greedy = [r.model_copy(update={"temperature": 0.0}) for r in requests]
    rows: list[list[Any]] = []
    produced: list[int] = []

    async def over_http() -> None:
        resolver = ModelResolver(ROOT / "models.lock", directory)
        sidecar = Sidecar(resolver, engine.settings, ServerSettings(), loader=lambda *_: engine)
        await sidecar.load()
        engine.reset_cache()
        valid = 0
        async with TestServer(sidecar.app()) as server, aiohttp.ClientSession() as http:
            url = str(server.make_url("/v1/generate"))
            started = time.perf_counter()
            for request in greedy:
                body = request.model_dump(by_alias=True, exclude_none=True, mode="json")
                async with http.post(url, json=body) as response:
                    payload = await response.json()
                valid += response.status == 200
                produced.append(payload["usage"]["completion_tokens"] if response.status == 200 else 0)
            seconds = time.perf_counter() - started
        tokens = sum(produced)
        rows.append(
            [
                "smart-sre sidecar over HTTP (constrained)",
                tokens,
                seconds,
                tokens / seconds,
                f"{valid}/{len(greedy)}",
            ]
        )

    asyncio.run(over_http())
    tokens, started = 0, time.perf_counter()
    for prompt, count in zip(prompts, produced, strict=True):
        out = raw.create_completion(prompt, max_tokens=max(count, 1), temperature=0.0)
        tokens += int(out["usage"]["completion_tokens"])
    seconds = time.perf_counter() - started
    rows.insert(
        0,
        ["raw llama-cpp-python create_completion (unconstrained)", tokens, seconds, tokens / seconds, "n/a"],
    )
    rows.append(outlines_row(raw, greedy, prompts, engine))
    ceiling = rows[0][3]
    for row in rows:
        row.append(f"{row[3] / ceiling:.2f}x")
    _table(
        f"End to end on {len(requests)} requests (prompt evaluation included)",
        ["path", "completion tokens", "seconds", "tokens/s", "valid JSON", "vs raw"],
        rows,
    )


def outlines_row(
    raw: llama_cpp.Llama, requests: list[GenerateRequest], prompts: list[str], engine: Engine
) -> list[Any]:
    """Outlines 1.3.3 with its llguidance backend on the same Llama object and schemas."""
    import outlines
    from jsonschema import Draft202012Validator
    from outlines.types import JsonSchema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = outlines.from_llamacpp(raw, chat_mode=False)
        tokens, valid, started = 0, 0, time.perf_counter()
        generators: dict[str, Any] = {}
        for request, prompt in zip(requests, prompts, strict=True):
            schema = engine.schema_for(request)
            key = json.dumps(schema, sort_keys=True)
            if key not in generators:
                generators[key] = outlines.Generator(model, JsonSchema(key), backend="llguidance")
            text = generators[key](prompt, max_tokens=request.max_tokens, temperature=0.0)
            tokens += len(raw.tokenize(text.encode(), add_bos=False))
            with contextlib.suppress(ValueError):
                valid += Draft202012Validator(schema).is_valid(json.loads(text))
        seconds = time.perf_counter() - started
    return [
        "Outlines 1.3.3, llguidance backend",
        tokens,
        seconds,
        tokens / seconds,
        f"{valid}/{len(requests)}",
    ]


def investigation(engine: Engine) -> None:
    """Six steps of one investigation; the transcript grows by the answer and a tool result each step."""
    values = grammars.TemplateValues(
        tools=("fetch_logs", "get_events", "check_service", "finish"),
        pods=("web-7d9f-abcde",),
        containers=("web",),
        objects=("Pod/web-7d9f-abcde", "Deployment/web", "Service/redis"),
        services=("redis", "web"),
    )
    transcript = [
        Message.model_validate(m)
        for m in messages(
            "step", "Pod web-7d9f-abcde (container web) is failing: Connection refused to redis:6379."
        )
    ]
    requests = []
    engine.reset_cache()
    reused = []
    for step in range(6):
        request = GenerateRequest(
            messages=list(transcript), grammar={"name": "step", "values": values}, max_tokens=160
        )
        requests.append(request)
        result = engine.generate(request)
        reused.append(result)
        transcript += [
            Message(role="assistant", content=result.text),
            Message(
                role="user",
                content=f"Tool result: step {step + 1}: service redis exists on port 6379 with 0 ready endpoints.",
            ),
        ]
    fresh = []
    for request in requests:
        engine.reset_cache()
        fresh.append(engine.generate(request))
    rows = []
    for step, (with_reuse, without) in enumerate(zip(reused, fresh, strict=True), start=1):
        rows.append(
            [
                step,
                with_reuse.usage.prompt_tokens,
                with_reuse.usage.prompt_tokens - with_reuse.usage.cached_prompt_tokens,
                without.usage.prompt_tokens - without.usage.cached_prompt_tokens,
                with_reuse.timings.first_token_ms,
                without.timings.first_token_ms,
                "yes" if with_reuse.text == without.text else "NO",
            ]
        )
    _table(
        "A 6-step investigation: prompt tokens evaluated per step, and time to first token",
        [
            "step",
            "prompt tokens",
            "evaluated (reuse)",
            "evaluated (no reuse)",
            "TTFT ms (reuse)",
            "TTFT ms (no reuse)",
            "same answer",
        ],
        rows,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=6, help="varied requests per comparison (default 6)")
    args = parser.parse_args()
    lock = lockfile.load(ROOT / "models.lock")
    entry = lock.get()
    directory = lockfile.models_dir(os.environ.get("SMART_SRE_MODELS_DIR") or ROOT / ".models")
    sources.pull(entry, directory)
    settings = EngineSettings.from_env()
    started = time.perf_counter()
    engine = Engine.load(entry, directory, settings)
    load_s = time.perf_counter() - started
    raw = llama_cpp.Llama(
        model_path=str(directory / entry.file),
        n_ctx=engine.n_ctx,
        n_threads=settings.threads(),
        n_threads_batch=settings.threads(),
        n_gpu_layers=engine.n_gpu_layers,
        verbose=False,
    )
    print(
        f"## Inference sidecar ({entry.name}, {platform.machine()}, threads={settings.threads()}, "
        f"n_gpu_layers={engine.n_gpu_layers}, n_ctx={engine.n_ctx}; load + verify + warm-up {load_s:.1f} s)"
    )
    requests = _requests(args.prompts)
    compile_times(engine)
    decode_speeds(engine, requests)
    end_to_end(engine, raw, requests, directory)
    investigation(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
