"""Engine and server settings: flags override environment variables, which override defaults."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

ENV_PREFIX = "SMART_SRE_"
ENDPOINT_ENV_PREFIX = ENV_PREFIX + "ENDPOINT_"


def _from_env(variables: dict[str, str], overrides: dict[str, object]) -> dict[str, object]:
    """The values of `variables` (field -> environment variable) that are set, then the overrides."""
    values: dict[str, object] = {
        name: os.environ[variable] for name, variable in variables.items() if variable in os.environ
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    return values


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
        variables = {name: ENV_PREFIX + name.upper() for name in cls.model_fields}
        return cls.model_validate(_from_env(variables, overrides))

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
        return cls.model_validate(_from_env(SERVER_ENV, overrides))


class Dialect(StrEnum):
    """How an OpenAI-compatible server is told the JSON Schema an answer must fit (`remote.DIALECTS`)."""

    AUTO = "auto"  # probe the others in this order at start and keep the first the server enforces
    OPENAI = "openai"  # response_format {"type": "json_schema"}: OpenAI, vLLM, llama.cpp's llama-server
    JSON_OBJECT = "json-object"  # response_format {"type": "json_object", "schema"}: llama-cpp-python
    TGI = "tgi"  # response_format {"type": "json", "value"}: Hugging Face TGI
    VLLM = "vllm"  # structured_outputs {"json"}: vLLM's own field today
    VLLM_GUIDED = "vllm-guided"  # guided_json: vLLM's field before 0.12 removed it
    LLAMA_CPP = "llama.cpp"  # a top-level json_schema: llama.cpp's llama-server


class Ranking(StrEnum):
    """How /v1/rank scores candidates on an endpoint (docs/inference.md, "Bring your own endpoint")."""

    AUTO = "auto"  # likelihood when the server returns prompt log-probabilities, else choice
    LIKELIHOOD = "likelihood"  # /v1/completions with echo and logprobs: each candidate's log-probability
    CHOICE = "choice"  # one constrained pick among the candidates: not calibrated


class EndpointSettings(BaseModel):
    """An OpenAI-compatible server in the cluster (vLLM, llama.cpp's server, TGI) that the sidecar serves
    from instead of a local GGUF; unset `url` means the local model. Read from SMART_SRE_ENDPOINT_*."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None, pattern=r"^https?://", description="the server's root, or its /v1 base"
    )
    model: str | None = Field(default=None, description="its model name; None: the only one it lists")
    api_key: SecretStr | None = Field(default=None, description="sent as a bearer token, never logged")
    api_key_file: Path | None = Field(default=None, description="a mounted Secret; wins over api_key")
    dialect: Dialect = Dialect.AUTO
    ranking: Ranking = Ranking.AUTO
    chat_template_file: Path | None = Field(
        default=None,
        description="the served model's Jinja chat template: lets `messages` be ranked by likelihood",
    )
    connect_timeout_s: float = Field(default=5.0, gt=0)
    probe_timeout_s: float = Field(
        default=30.0, gt=0, description="for GET /v1/models and each capability probe at start"
    )

    @classmethod
    def from_env(cls, **overrides: object) -> EndpointSettings:
        """Read SMART_SRE_ENDPOINT_URL, SMART_SRE_ENDPOINT_MODEL, SMART_SRE_ENDPOINT_API_KEY(_FILE), ..."""
        variables = {name: ENDPOINT_ENV_PREFIX + name.upper() for name in cls.model_fields}
        return cls.model_validate(_from_env(variables, overrides))

    def key(self) -> str | None:
        """The API key, read now (a rotated Secret takes effect at the next reload)."""
        if self.api_key_file is not None:
            return self.api_key_file.read_text(encoding="utf-8").strip() or None
        return self.api_key.get_secret_value() if self.api_key else None
