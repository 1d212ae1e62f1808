"""The inference core: one loaded model, grammar-constrained generation and likelihood ranking.

Usable in-process (the agent's CLI falls back to it when no sidecar answers); the HTTP server is a
thin layer over it. Not thread-safe: one thread drives an engine at a time (the server's worker).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import llguidance
import llguidance.llamacpp
import numpy as np

from smart_sre_inference import answers, store
from smart_sre_inference import prompt as prompts
from smart_sre_inference.api import (
    GenerateRequest,
    GenerateResponse,
    ModelInfo,
    RankedCandidate,
    RankRequest,
    RankResponse,
    Timings,
    Usage,
)
from smart_sre_inference.errors import Checkpoint, InvalidRequest, Unprocessable
from smart_sre_inference.grammar import CompiledGrammar, GrammarCache, SchemaError
from smart_sre_inference.lock import ModelEntry
from smart_sre_inference.sampling import choose, log_softmax
from smart_sre_inference.session import KVSession
from smart_sre_inference.settings import EngineSettings

logger = logging.getLogger(__name__)


def _never() -> None:
    return None


@dataclass
class Decoded:
    tokens: list[int]
    forced: int
    prompt_tokens: int
    finished: bool
    cached_prompt: int
    prompt_s: float
    first_token_s: float
    decode_s: float


class Engine:
    def __init__(self, entry: ModelEntry, model_path: Path, settings: EngineSettings) -> None:
        self.entry = entry
        self.settings = settings
        self.n_gpu_layers = self._gpu_layers(settings)
        self.n_ctx = min(settings.n_ctx, entry.context_length)
        self._llm = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=self.n_ctx,
            n_batch=settings.n_batch,
            n_threads=settings.threads(),
            n_threads_batch=settings.threads(),
            n_gpu_layers=self.n_gpu_layers,
            swa_full=True,  # lets the KV cache be cut at any position, which prefix reuse needs
            verbose=False,
        )
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        stops = [llama_cpp.llama_vocab_eos(self._vocab), llama_cpp.llama_vocab_eot(self._vocab)]
        with warnings.catch_warnings():  # llguidance calls a llama.cpp function deprecated per token
            warnings.simplefilter("ignore", DeprecationWarning)
            self.llg_tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(
                self._vocab, eos_token=[token for token in stops if token >= 0]
            )
        self._bos = self._llm.detokenize([self._llm.token_bos()], special=True).decode()
        self._session = KVSession(self._llm)
        self.grammars = GrammarCache(self.llg_tokenizer, settings.grammar_cache_size)

    @classmethod
    def load(
        cls, entry: ModelEntry, directory: Path, settings: EngineSettings, *, warm_up: bool = True
    ) -> Engine:
        """Verify the weights against the lock, load them, and run one generation."""
        path = store.verify(entry, directory)
        started = time.perf_counter()
        engine = cls(entry, path, settings)
        if warm_up:
            engine.warm_up()
        logger.info(
            "model loaded", extra={"model": entry.name, "seconds": round(time.perf_counter() - started, 2)}
        )
        return engine

    @staticmethod
    def _gpu_layers(settings: EngineSettings) -> int:
        if settings.n_gpu_layers == "auto":
            return -1 if llama_cpp.llama_supports_gpu_offload() else 0
        return settings.n_gpu_layers

    @property
    def name(self) -> str:
        return self.entry.name

    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.entry.name,
            lock_entry=self.entry.model_dump(),
            context_size=self.n_ctx,
            n_gpu_layers=self.n_gpu_layers,
            gpu_offload_supported=bool(llama_cpp.llama_supports_gpu_offload()),
            threads=self.settings.threads(),
            instruction_tuned=self.entry.instruction_tuned,
        )

    def warm_up(self) -> None:
        self.generate(GenerateRequest(prompt="Status:", schema={"enum": ["ready"]}, max_tokens=8))
        self.reset_cache()

    def close(self) -> None:
        self._llm.close()

    def reset_cache(self) -> None:
        """Forget the KV cache (the next prompt is evaluated from its first token)."""
        self._session.clear()

    def tokenize(self, text: str, *, bos: bool = True) -> list[int]:
        return self._llm.tokenize(text.encode(), add_bos=bos, special=True)

    def detokenize(self, tokens: list[int]) -> str:
        return self._llm.detokenize(tokens).decode("utf-8", errors="replace")

    # -- prompts -------------------------------------------------------------------------------

    def tokenize_prompt(self, request: GenerateRequest | RankRequest) -> list[int]:
        if request.messages is not None:
            try:
                text = prompts.render(self.entry.chat_template, request.messages, bos_token=self._bos)
            except prompts.PromptError as error:
                raise InvalidRequest(str(error)) from None
            return self._llm.tokenize(text.encode(), add_bos=False, special=True)
        assert request.prompt is not None
        return self.tokenize(request.prompt)

    schema_for = staticmethod(answers.schema_for)

    # -- generation ----------------------------------------------------------------------------

    def generate(self, request: GenerateRequest, checkpoint: Checkpoint = _never) -> GenerateResponse:
        """A JSON answer that validates against the request's schema, or an exception saying why not."""
        started = time.perf_counter()
        try:
            compiled, hit, compile_s = self.grammars.get(self.schema_for(request))
        except SchemaError as error:
            raise InvalidRequest(str(error)) from None
        decoded = self.decode(
            self.tokenize_prompt(request),
            compiled,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            checkpoint=checkpoint,
        )
        text = self.detokenize(decoded.tokens)
        if not decoded.finished:
            raise answers.truncated(request.max_tokens, text)
        output = answers.check(text, compiled.validator)
        return GenerateResponse(
            model=self.entry.name,
            output=output,
            text=text,
            usage=Usage(
                prompt_tokens=decoded.prompt_tokens,
                cached_prompt_tokens=decoded.cached_prompt,
                completion_tokens=len(decoded.tokens),
                forced_tokens=decoded.forced,
            ),
            timings=Timings(
                grammar_compile_ms=compile_s * 1000,
                grammar_cache_hit=hit,
                prompt_eval_ms=decoded.prompt_s * 1000,
                first_token_ms=decoded.first_token_s * 1000,
                decode_ms=decoded.decode_s * 1000,
                total_ms=(time.perf_counter() - started) * 1000,
            ),
        )

    def decode(
        self,
        prompt_tokens: list[int],
        grammar: CompiledGrammar | None,
        *,
        max_tokens: int,
        temperature: float = 0.0,
        seed: int | None = None,
        checkpoint: Checkpoint = _never,
    ) -> Decoded:
        """Tokens after the prompt, under `grammar` (or free, for comparison) until it completes or max_tokens."""
        if len(prompt_tokens) + max_tokens > self.n_ctx:
            raise InvalidRequest(
                f"prompt ({len(prompt_tokens)} tokens) + max_tokens ({max_tokens}) exceed the context "
                f"({self.n_ctx}); shorten the transcript or raise SMART_SRE_N_CTX"
            )
        started = time.perf_counter()
        logits, cached = self._session.feed(prompt_tokens)
        prompt_done = time.perf_counter()
        matcher = grammar.start() if grammar is not None else None
        rng = np.random.default_rng(seed)
        tokens: list[int] = []
        forced = 0
        first_token_at: float | None = None
        finished = False
        while len(tokens) < max_tokens:
            checkpoint()
            if matcher is not None and matcher.is_stopped():
                finished = True
                break
            if matcher is not None and self.settings.forced_tokens:
                run = matcher.compute_ff_tokens()[: max_tokens - len(tokens)]
                if run:
                    if not matcher.consume_tokens(run):
                        raise Unprocessable(f"grammar rejected its own forced tokens: {matcher.get_error()}")
                    tokens.extend(run)
                    forced += len(run)
                    first_token_at = first_token_at or time.perf_counter()
                    if not matcher.is_stopped():
                        logits = self._session.extend(run)
                    continue
            bitmask = None if matcher is None else np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
            token = choose(logits, bitmask, temperature, rng)
            first_token_at = first_token_at or time.perf_counter()
            if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                finished = matcher is None or matcher.is_accepting()
                break
            if matcher is not None and not matcher.consume_token(token):
                raise Unprocessable(f"the grammar rejected token {token}: {matcher.get_error()}")
            tokens.append(token)
            if matcher is not None and matcher.is_stopped():
                finished = True
                break
            logits = self._session.extend([token])
        else:
            finished = matcher is not None and matcher.is_stopped()
        done = time.perf_counter()
        return Decoded(
            tokens=tokens,
            forced=forced,
            prompt_tokens=len(prompt_tokens),
            finished=finished,
            cached_prompt=cached,
            prompt_s=prompt_done - started,
            first_token_s=(first_token_at or done) - started,
            decode_s=done - prompt_done,
        )

    # -- ranking -------------------------------------------------------------------------------

    def rank(self, request: RankRequest, checkpoint: Checkpoint = _never) -> RankResponse:
        """Log-likelihood of each candidate continuation; the prompt is evaluated once and reused."""
        started = time.perf_counter()
        prompt_tokens = self.tokenize_prompt(request)
        encoded = [
            self._llm.tokenize(text.encode(), add_bos=False, special=False) for text in request.candidates
        ]
        longest = max(len(tokens) for tokens in encoded)
        if len(prompt_tokens) + longest > self.n_ctx:
            raise InvalidRequest(
                f"prompt + longest candidate ({len(prompt_tokens) + longest} tokens) exceed the context"
            )
        logits, cached = self._session.feed(prompt_tokens)
        prompt_done = time.perf_counter()
        first = log_softmax(logits)
        ranked: list[RankedCandidate] = []
        for text, tokens in zip(request.candidates, encoded, strict=True):
            checkpoint()
            self._session.truncate(len(prompt_tokens))
            if len(self._session.tokens) != len(prompt_tokens):
                self._session.feed(prompt_tokens)
            total = float(first[tokens[0]])
            if len(tokens) > 1:
                rows = log_softmax(self._session.extend(tokens[:-1], all_logits=True))
                total += float(rows[np.arange(len(tokens) - 1), tokens[1:]].sum())
            ranked.append(
                RankedCandidate(
                    text=text, tokens=len(tokens), logprob=total, mean_logprob=total / len(tokens)
                )
            )
        self._session.truncate(len(prompt_tokens))
        done = time.perf_counter()
        return RankResponse(
            model=self.entry.name,
            candidates=ranked,
            best=max(range(len(ranked)), key=lambda i: ranked[i].mean_logprob),
            best_total=max(range(len(ranked)), key=lambda i: ranked[i].logprob),
            usage=Usage(
                prompt_tokens=len(prompt_tokens),
                cached_prompt_tokens=cached,
                completion_tokens=sum(len(tokens) for tokens in encoded),
            ),
            timings=Timings(
                prompt_eval_ms=(prompt_done - started) * 1000,
                decode_ms=(done - prompt_done) * 1000,
                total_ms=(done - started) * 1000,
            ),
        )
