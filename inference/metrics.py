"""Prometheus metrics of one sidecar (own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from smart_sre_inference.api import Usage


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        prefix = "smart_sre_inference_"
        self.requests = Counter(
            prefix + "requests",
            "Requests by endpoint and HTTP status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            prefix + "queue_depth", "Requests waiting behind the running one", registry=self.registry
        )
        self.prompt_tokens = Counter(
            prefix + "prompt_tokens", "Prompt tokens, cached or evaluated", registry=self.registry
        )
        self.cached_prompt_tokens = Counter(
            prefix + "cached_prompt_tokens", "Prompt tokens reused from the KV cache", registry=self.registry
        )
        self.completion_tokens = Counter(
            prefix + "completion_tokens", "Tokens generated", registry=self.registry
        )
        self.tokens_per_second = Gauge(
            prefix + "tokens_per_second", "Decode speed of the last generation", registry=self.registry
        )
        self.grammar_cache_hits = Counter(
            prefix + "grammar_cache_hits", "Compiled grammars found in the cache", registry=self.registry
        )
        self.grammar_cache_misses = Counter(
            prefix + "grammar_cache_misses", "Grammars compiled", registry=self.registry
        )
        self.validation_failures = Counter(
            prefix + "validation_failures",
            "Complete answers that failed schema validation (must stay 0)",
            registry=self.registry,
        )
        self.truncations = Counter(
            prefix + "truncations", "Answers cut short by max_tokens", registry=self.registry
        )
        self.latency = Histogram(
            prefix + "request_seconds",
            "Request latency, queue included",
            ["endpoint"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160),
            registry=self.registry,
        )
        self.ready = Gauge(
            prefix + "ready", "1 when a verified, warmed model serves requests", registry=self.registry
        )

    def observe_usage(self, usage: Usage, decode_ms: float) -> None:
        self.prompt_tokens.inc(usage.prompt_tokens)
        self.cached_prompt_tokens.inc(usage.cached_prompt_tokens)
        self.completion_tokens.inc(usage.completion_tokens)
        if decode_ms > 0:
            self.tokens_per_second.set(usage.completion_tokens / (decode_ms / 1000))
