"""A scripted stand-in for the model, for fast loop tests: replays answers, records every prompt."""

from __future__ import annotations

import json

import jsonschema

from smart_sre_grammars import render
from smart_sre_inference.api import GenerateRequest, GenerateResponse, ModelInfo, RankRequest, RankResponse
from smart_sre_inference.client import Inference
from smart_sre_inference.errors import Unprocessable

_USAGE = {"prompt_tokens": 100, "cached_prompt_tokens": 0, "completion_tokens": 20}


class ScriptedInference(Inference):
    def __init__(self, steps: list[dict], findings: dict | None = None) -> None:
        self.steps = list(steps)
        self.findings = findings
        self.prompts: list[str] = []
        self.best = 0  # the candidate index `rank` answers with

    def _record(self, request) -> None:
        self.prompts.append(
            json.dumps([m.model_dump() for m in request.messages or []]) + (request.prompt or "")
        )

    async def _generate(self, request: GenerateRequest) -> GenerateResponse:
        self._record(request)
        schema = (
            render(request.grammar.name, request.grammar.values) if request.grammar else request.json_schema
        )
        if "findings" in schema.get("properties", {}):
            if self.findings is None:
                raise Unprocessable("scripted: no findings")
            output = self.findings
        else:
            output = self.steps.pop(0)
        jsonschema.validate(output, schema)  # like the sidecar: only grammar-valid answers come back
        return GenerateResponse(
            model="scripted", output=output, text=json.dumps(output), usage=_USAGE, timings={}
        )

    async def _rank(self, request: RankRequest) -> RankResponse:
        self._record(request)
        self.prompts[-1] += json.dumps(request.candidates)
        ranked = [{"text": c, "tokens": 1, "logprob": -1.0, "mean_logprob": -1.0} for c in request.candidates]
        return RankResponse(
            model="scripted",
            candidates=ranked,
            best=self.best,
            best_total=self.best,
            usage=_USAGE,
            timings={},
        )

    async def models(self) -> ModelInfo:
        raise NotImplementedError

    async def health(self) -> bool:
        return True

    async def ready(self) -> bool:
        return True
