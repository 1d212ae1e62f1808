"""The default model itself (models.lock's default, Qwen2.5-Coder 0.5B Instruct), asked as the operator
asks it: in its chat template's turns, the failure's line scored as its answer (`adjudication.trace`).
The rest of the suite runs Gemma 3 270M, the faster test double (tests/conftest.py)."""

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


@pytest.fixture(scope="module")
def default() -> Iterator[LocalInference]:
    name = lockfile.load(ROOT / "models.lock").default
    model = LocalInference.load(name, lock=str(ROOT / "models.lock"))
    yield model
    model.engine.close()


async def test_the_default_is_instruction_tuned_and_says_so(default: LocalInference) -> None:
    info = await default.models()
    assert info.instruction_tuned
    assert "<|im_start|>" in info.lock_entry["chat_template"]


async def test_asked_in_turns_the_default_blames_the_setting_that_causes_the_line(
    default: LocalInference,
) -> None:
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
    decision = await trace(default, question=question, line=line, weights=weights, instruction_tuned=True)

    assert decision is not None
    assert decision.record.scoring == Scoring.CHANNEL  # real log-probabilities, read in the model's turns
    assert decision.chosen == culprit
    assert decision.record.margin is not None
    assert decision.record.margin > 1.0
