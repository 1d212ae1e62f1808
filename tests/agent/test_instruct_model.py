"""An instruction-tuned model (the pinned Qwen2.5-Coder 0.5B Instruct, which `make setup` pulls) asked as
the operator asks one: in its chat template's turns, the failure's line scored as its answer
(`adjudication.trace`). The default, Gemma 3 270M, is a base model and continues plain text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smart_sre.api.diagnosticreport import AdjudicationKind, Scoring
from smart_sre.investigation import explanation
from smart_sre.investigation.adjudication import Question, trace
from smart_sre_inference import lock as lockfile
from smart_sre_inference.local import LocalInference

pytestmark = [pytest.mark.model]

ROOT = Path(__file__).resolve().parents[2]
INSTRUCT = "qwen2.5-coder-0.5b-instruct-q4_k_m"


@pytest.fixture(scope="module")
def instruct() -> Iterator[LocalInference]:
    model = LocalInference.load(INSTRUCT, lock=str(ROOT / "models.lock"))
    yield model
    model.engine.close()


async def test_the_sidecar_says_which_models_answer_in_turns(instruct: LocalInference) -> None:
    info = await instruct.models()
    assert info.instruction_tuned
    assert "<|im_start|>" in info.lock_entry["chat_template"]
    assert lockfile.load(ROOT / "models.lock").get().instruction_tuned is False  # the default: a base model


async def test_asked_in_turns_it_blames_the_setting_that_causes_the_line(instruct: LocalInference) -> None:
    line = 'level=fatal msg="cannot prepare scratch space" error="mkdir /tmp/scan-1: read-only file system"'
    culprit = "container scanner securityContext.readOnlyRootFilesystem: true"
    options = [
        "container scanner image: registry.local/scanning/scanner:2.8.1",
        culprit,
        "container scanner ports[name=http].containerPort: 8080",
        "container scanner readinessProbe.httpGet.path: /readyz",
    ]
    question = Question.of(AdjudicationKind.CULPRIT, options)
    assert question is not None

    # As the operator weighs it: what each setting shares with the line is its prior.
    weights = explanation.relevance(list(question.options), [line])
    decision = await trace(instruct, question=question, line=line, weights=weights, instruction_tuned=True)

    assert decision is not None
    assert decision.record.scoring == Scoring.CHANNEL  # real log-probabilities, read in the model's turns
    assert decision.chosen == culprit
    assert decision.record.margin is not None
    assert decision.record.margin > 1.0
