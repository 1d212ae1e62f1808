"""Request and response bodies of the sidecar's HTTP API, shared by the server and the client."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smart_sre_grammars import TemplateValues

__all__ = [
    "GenerateRequest",
    "GenerateResponse",
    "GrammarRef",
    "Message",
    "ModelInfo",
    "RankRequest",
    "RankResponse",
    "RankedCandidate",
    "ReloadRequest",
    "Timings",
    "Usage",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Message(_Body):
    role: Literal["system", "user", "assistant"]
    content: str


class GrammarRef(_Body):
    """A template from grammars/ (step, final) and the names that exist for this request."""

    name: Literal["step", "final"]
    values: TemplateValues = TemplateValues()


class _Prompted(_Body):
    messages: list[Message] | None = Field(default=None, min_length=1)
    prompt: str | None = Field(default=None, min_length=1)
    timeout_s: float | None = Field(
        default=None, gt=0, description="queue wait plus work; server default if unset"
    )

    @model_validator(mode="after")
    def _one_prompt(self) -> Self:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give exactly one of `messages` or `prompt`")
        return self


class GenerateRequest(_Prompted):
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    grammar: GrammarRef | None = None
    max_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = None

    @model_validator(mode="after")
    def _one_constraint(self) -> Self:
        if (self.json_schema is None) == (self.grammar is None):
            raise ValueError(
                "give exactly one of `schema` (inline JSON Schema) or `grammar` (a template name)"
            )
        return self


class Usage(_Body):
    prompt_tokens: int
    cached_prompt_tokens: int = Field(description="prompt tokens reused from the KV cache, not evaluated")
    completion_tokens: int
    forced_tokens: int = Field(default=0, description="completion tokens the grammar forced (not sampled)")


class Timings(_Body):
    queue_ms: float = 0.0
    grammar_compile_ms: float = 0.0
    grammar_cache_hit: bool = False
    prompt_eval_ms: float = 0.0
    first_token_ms: float = 0.0
    decode_ms: float = 0.0
    total_ms: float = 0.0


class GenerateResponse(_Body):
    model: str
    output: Any = Field(description="the parsed JSON; it validates against the request's schema")
    text: str
    finish_reason: Literal["stop"] = "stop"
    usage: Usage
    timings: Timings


class RankRequest(_Prompted):
    candidates: list[str] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _non_empty(self) -> Self:
        if any(not candidate for candidate in self.candidates):
            raise ValueError("candidates must be non-empty strings")
        return self


class RankedCandidate(_Body):
    text: str
    tokens: int
    logprob: float = Field(description="sum of the candidate's token log-probabilities after the prompt")
    mean_logprob: float


class RankResponse(_Body):
    model: str
    candidates: list[RankedCandidate] = Field(description="in request order")
    best: int = Field(description="index of the highest mean log-probability")
    best_total: int = Field(description="index of the highest total log-probability")
    scoring: Literal["likelihood", "choice"] = Field(
        default="likelihood",
        description="likelihood: the model's log-probabilities; choice: an endpoint without them picked "
        "one candidate under an enum schema (logprob 0 for it, a floor for the rest): not calibrated",
    )
    usage: Usage
    timings: Timings


class ModelInfo(_Body):
    name: str
    lock_entry: dict[str, Any]
    context_size: int
    n_gpu_layers: int
    gpu_offload_supported: bool
    threads: int
    instruction_tuned: bool = Field(
        default=False,
        description="the model answers in its chat template's turns (ModelEntry.instruction_tuned)",
    )


class ReloadRequest(_Body):
    model: str | None = Field(default=None, description="a models.lock name; default: the configured model")
