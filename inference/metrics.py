"""Prometheus metrics of one sidecar (own registry, so tests can run several), and their listener."""

from __future__ import annotations

from functools import partial

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from smart_sre_inference.api import Usage


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Bound once: every metric is named smart_sre_inference_* and lives in this sidecar's registry.
        namespace = "smart_sre_inference"
        counter = partial(Counter, namespace=namespace, registry=self.registry)
        gauge = partial(Gauge, namespace=namespace, registry=self.registry)
        self.requests = counter("requests", "Requests by endpoint and HTTP status", ["endpoint", "status"])
        self.queue_depth = gauge("queue_depth", "Requests waiting behind the running one")
        self.prompt_tokens = counter("prompt_tokens", "Prompt tokens, cached or evaluated")
        self.cached_prompt_tokens = counter("cached_prompt_tokens", "Prompt tokens reused from the KV cache")
        self.completion_tokens = counter("completion_tokens", "Tokens generated")
        self.tokens_per_second = gauge("tokens_per_second", "Decode speed of the last generation")
        self.grammar_cache_hits = counter("grammar_cache_hits", "Compiled grammars found in the cache")
        self.grammar_cache_misses = counter("grammar_cache_misses", "Grammars compiled")
        self.validation_failures = counter(
            "validation_failures", "Complete answers that failed schema validation (must stay 0)"
        )
        self.truncations = counter("truncations", "Answers cut short by max_tokens")
        self.latency = Histogram(
            "request_seconds",
            "Request latency, queue included",
            ["endpoint"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160),
            namespace=namespace,
            registry=self.registry,
        )
        self.ready = gauge("ready", "1 when a verified, warmed model serves requests")

    def observe_usage(self, usage: Usage, decode_ms: float) -> None:
        self.prompt_tokens.inc(usage.prompt_tokens)
        self.cached_prompt_tokens.inc(usage.cached_prompt_tokens)
        self.completion_tokens.inc(usage.completion_tokens)
        if decode_ms > 0:
            self.tokens_per_second.set(usage.completion_tokens / (decode_ms / 1000))

    async def exposition(self, request: web.Request) -> web.Response:
        """GET /metrics: this registry in Prometheus' text format."""
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def listen(self, port: int) -> web.AppRunner:
        """Serve GET /metrics, and nothing else, on `port` of every interface (IPv4 and IPv6).

        The API listens on 127.0.0.1, out of Prometheus' reach; this listener is what the pod's Service
        exposes, and it carries no route that could generate, reload or read a model. Raises OSError,
        with nothing left listening, when the port cannot be bound."""
        app = web.Application()
        app.add_routes([web.get("/metrics", self.exposition)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host=None, port=port).start()
        except OSError:
            await runner.cleanup()
            raise
        return runner
