"""Engine and server settings: flags override environment variables, which override defaults."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "SMART_SRE_"


class EngineSettings(BaseModel):
    """How the model runs. `n_gpu_layers="auto"` offloads every layer when the build has GPU support."""

    model_config = ConfigDict(extra="forbid")

    n_gpu_layers: int | Literal["auto"] = "auto"
    n_threads: int | None = Field(default=None, ge=1, description="None: half the CPUs this process may use")
    n_ctx: int = Field(default=4096, ge=256)
    n_batch: int = Field(default=512, ge=1)
    grammar_cache_size: int = Field(default=32, ge=1)
    forced_tokens: bool = Field(default=True, description="evaluate grammar-forced tokens without sampling")

    @classmethod
    def from_env(cls, **overrides: object) -> EngineSettings:
        """Read SMART_SRE_N_GPU_LAYERS, SMART_SRE_N_THREADS, SMART_SRE_N_CTX, SMART_SRE_N_BATCH, ..."""
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls.model_validate(values)

    def threads(self) -> int:
        """Half the usable CPUs by default (llama-cpp-python's choice): llama.cpp's threads spin at every
        barrier, and on a shared, oversubscribed CPU two threads decoded 5x slower than one (303 vs
        58 ms/token measured on the 2-core dev box under load)."""
        return self.n_threads or max(1, len(os.sched_getaffinity(0)) // 2)


# The server settings read from the environment, by field. The metrics port has the sidecar's own
# variable: SMART_SRE_METRICS_PORT is the operator's, and a shell that runs both must not bind both to it.
SERVER_ENV = {
    "queue_size": ENV_PREFIX + "QUEUE_SIZE",
    "request_timeout_s": ENV_PREFIX + "REQUEST_TIMEOUT_S",
    "metrics_port": ENV_PREFIX + "INFERENCE_METRICS_PORT",
}


class ServerSettings(BaseModel):
    """Where the sidecar listens. The API (`host`, `port`) stays on 127.0.0.1 by default: the operator in
    the same pod is its only client. Metrics have their own listener on every interface, so Prometheus
    can scrape them through the Service without reaching the API."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8081
    metrics_port: int = Field(
        default=9091, ge=0, le=65535, description="GET /metrics alone, on every interface; 0: any free port"
    )
    queue_size: int = Field(default=8, ge=0, description="requests waiting behind the running one")
    request_timeout_s: float = Field(default=120.0, gt=0)

    @classmethod
    def from_env(cls, **overrides: object) -> ServerSettings:
        """Read SMART_SRE_QUEUE_SIZE, SMART_SRE_REQUEST_TIMEOUT_S and SMART_SRE_INFERENCE_METRICS_PORT."""
        values: dict[str, object] = {}
        for name, variable in SERVER_ENV.items():
            raw = os.environ.get(variable)
            if raw is not None:
                values[name] = raw
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls.model_validate(values)
