"""A scripted stand-in for the model, for fast loop tests: replays answers, records every prompt."""

from __future__ import annotations

import json

import jsonschema

from smart_sre.investigation import prompting
from smart_sre.investigation.adjudication import NO_EVIDENCE
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
        self.prefers: str | None = None  # what `rank` likes: text in a candidate (or a channel prompt)
        self.scoring = "likelihood"  # "choice": an endpoint without log-probabilities
        self.instruction_tuned: bool | None = None  # set: it tells the investigation what it serves

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
        asked = self.prompts[-1]
        self.prompts[-1] += json.dumps(request.candidates)
        # It prefers what names `prefers`: a candidate, or the option a channel prompt names as the wrong
        # one before its one candidate. With nothing observed (the calibration prior), or an option
        # merely mentioned, it has no preference.
        mentioned = prompting.load("mention").render(setting="").splitlines()[0] in asked
        liked = [
            self.prefers is not None
            and NO_EVIDENCE not in asked
            and not mentioned
            and (self.prefers in c or (len(request.candidates) == 1 and self.prefers in asked))
            for c in request.candidates
        ]
        ranked = [
            {"text": c, "tokens": 1, "logprob": lp, "mean_logprob": lp}
            for c, like in zip(request.candidates, liked, strict=True)
            for lp in [-0.5 if like else -1.0]
        ]
        best = liked.index(True) if any(liked) else 0
        return RankResponse(
            model="scripted",
            candidates=ranked,
            best=best,
            best_total=best,
            scoring=self.scoring,
            usage=_USAGE,
            timings={},
        )

    async def models(self) -> ModelInfo:
        if self.instruction_tuned is None:
            raise NotImplementedError
        return ModelInfo(
            name="scripted",
            lock_entry={"name": "scripted", "sha256": "0" * 64},
            context_size=4096,
            n_gpu_layers=0,
            gpu_offload_supported=False,
            threads=1,
            instruction_tuned=self.instruction_tuned,
        )

    async def health(self) -> bool:
        return True

    async def ready(self) -> bool:
        return True
