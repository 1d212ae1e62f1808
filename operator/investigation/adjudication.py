"""Adjudication: the model decides between options named by their content, with calibrated likelihoods.

`Investigation` asks at most two questions: which of the close candidate causes and fixes the facts
support (`choose`), and which field of the pod spec a failure no analyzer explains comes from
(`explain`). Options are named by what they concern ("env LOG_LEVEL of container api: verbose"), never
by a number: a small model matches content against the evidence, and fails at picking indexes.

Scoring (`trace`, the noisy channel). Each option is scored by how much likelier the line that shows
the failure becomes once the option is named as the wrong setting than when it is merely named, added
to its prior: the analyzers' score (as a log) for a cause, what the setting shares with the line for a
culprit. The line, not the option, is what is scored, so a long or rare option wins nothing for its
wording, and what a model copies from its prompt counts the same in both framings and cancels. Measured
on the close-call set with Gemma 3 270M (docs/eval.md), asking "which option?" after the transcript and
calibrating it by the same question with nothing observed (`decide`, `prior`) picked 3 of 11 right; the
channel 7. The calibrated question remains for a pod with no line to read.
"""

from __future__ import annotations

from dataclasses import dataclass

from smart_sre.api.diagnosticreport import (
    MAX_ADJUDICATION_OPTIONS,
    Adjudication,
    AdjudicationKind,
    AdjudicationOption,
    Scoring,
)
from smart_sre.investigation import prompting
from smart_sre.investigation.tools.base import cut
from smart_sre.investigation.untrusted import FENCE_CLOSE, FENCE_OPEN, fence
from smart_sre_inference.api import Message, RankResponse, Usage
from smart_sre_inference.client import Inference

MAX_OPTIONS = 24  # each option costs its tokens twice (prior and decision); the sidecar accepts 64
OPTION_CHARS = 160  # as the model weighs it; the report keeps the first 80
REPORTED_CHARS = 80  # AdjudicationOption.text's bound in the CRD
NO_EVIDENCE = "(nothing was observed)"


@dataclass(frozen=True)
class Question:
    """A question whose answer is one of `options`, each a short text naming its content."""

    kind: AdjudicationKind
    options: tuple[str, ...]

    @staticmethod
    def option(text: str) -> str:
        """An option as it is asked: on one line, bounded."""
        return cut(" ".join(text.split()), OPTION_CHARS)

    @classmethod
    def of(cls, kind: AdjudicationKind, options: list[str]) -> Question | None:
        """The question over distinct, bounded options; None when fewer than two remain."""
        distinct = tuple(dict.fromkeys(cls.option(option) for option in options))
        return cls(kind=kind, options=distinct[:MAX_OPTIONS]) if len(distinct) >= 2 else None

    def blamed(self, option: str) -> str:
        """An option as the setting to blame: a cause option without its cause's name, which only
        labels the change it makes."""
        return option.split(": ", 1)[-1] if self.kind == AdjudicationKind.CAUSE else option

    def text(self) -> str:
        """The question as the model reads it: the options are fenced, since they quote the cluster."""
        listed = "\n".join(f"- {option}" for option in self.options)
        return prompting.load(self.kind.value.lower()).render(
            options=fence(listed), fence_open=FENCE_OPEN, fence_close=FENCE_CLOSE
        )


@dataclass(frozen=True)
class Decision:
    """The model's answer to a question, as the report records it, and what asking cost."""

    record: Adjudication
    chosen: str
    usage: Usage


async def prior(model: Inference, *, system: Message, question: Question) -> RankResponse:
    """Each option's likelihood after the question alone, with nothing observed: the calibration."""
    empty = Message(role="user", content=f"Observation 0:\n{fence(NO_EVIDENCE)}\n{question.text()}")
    return await model.rank(messages=[system, empty], candidates=list(question.options))


async def decide(
    model: Inference, *, messages: list[Message], question: Question, baseline: RankResponse | None
) -> Decision:
    """The option the evidence in `messages` supports most, calibrated by `baseline` where there is one."""
    ranked = await model.rank(messages=messages, candidates=list(question.options))
    if ranked.scoring == "choice":
        chosen = ranked.best
        scores: list[float | None] = [None] * len(question.options)
        scoring = Scoring.CHOICE
    else:
        calibrated = baseline is not None and baseline.scoring == "likelihood"
        scores = [
            candidate.logprob - (baseline.candidates[index].logprob if calibrated and baseline else 0.0)
            for index, candidate in enumerate(ranked.candidates)
        ]
        chosen = max(range(len(scores)), key=lambda index: scores[index] or 0.0)
        scoring = Scoring.CALIBRATED if calibrated else Scoring.LIKELIHOOD
    return Decision(
        record=_record(question, scores, chosen, scoring), chosen=question.options[chosen], usage=ranked.usage
    )


def framings(instruction_tuned: bool) -> tuple[str, str]:
    """The prompts `trace` reads the line after: the option blamed, then merely named. An instruction-tuned
    model is asked in a user turn and answers with the line; a base model continues the text."""
    return ("ask-channel", "ask-mention") if instruction_tuned else ("channel", "mention")


async def trace(
    model: Inference, *, question: Question, line: str, weights: list[float], instruction_tuned: bool
) -> Decision | None:
    """Noisy-channel choice: each option scored by how much likelier the cluster's `line` becomes once
    the option is named as the wrong setting than when it is merely named, plus its lexical `weights`
    (what it shares with the line, `explanation.relevance`). A small model copies what its context
    holds: asked "which option?" it favours the longest, rarest value, and the line's likelihood alone
    rises for any option that spells part of it. Copying is the same in both prompts and cancels; what
    is left is what the model knows of cause and effect ("readOnlyRootFilesystem" makes "read-only file
    system" likely, an image name does not). Each model is asked as it was tuned (`framings`). None when
    the model gives no log-probabilities."""
    blamed, mentioned = framings(instruction_tuned)
    scores: list[float | None] = list(weights)
    spent = Usage(prompt_tokens=0, cached_prompt_tokens=0, completion_tokens=0)
    # One framing at a time: its prompts share their opening, which the engine's cache keeps.
    for framing, sign in ((blamed, 1.0), (mentioned, -1.0)):
        for index, option in enumerate(question.options):
            text = prompting.load(framing).render(setting=fence(question.blamed(option)))
            if instruction_tuned:
                ranked = await model.rank(messages=[Message(role="user", content=text)], candidates=[line])
            else:
                ranked = await model.rank(prompt=text, candidates=[f" {line}"])
            if ranked.scoring != "likelihood":
                return None
            scores[index] = (scores[index] or 0.0) + sign * ranked.candidates[0].logprob
            spent = Usage(
                prompt_tokens=spent.prompt_tokens + ranked.usage.prompt_tokens,
                cached_prompt_tokens=spent.cached_prompt_tokens + ranked.usage.cached_prompt_tokens,
                completion_tokens=spent.completion_tokens + ranked.usage.completion_tokens,
            )
    chosen = max(range(len(scores)), key=lambda index: scores[index] or 0.0)
    return Decision(
        record=_record(question, scores, chosen, Scoring.CHANNEL),
        chosen=question.options[chosen],
        usage=spent,
    )


def _record(question: Question, scores: list[float | None], chosen: int, scoring: Scoring) -> Adjudication:
    """The chosen option first, then the best others by score; the margin over the runner-up."""
    order = [
        chosen,
        *sorted((i for i in range(len(scores)) if i != chosen), key=lambda i: -(scores[i] or 0.0)),
    ]
    kept = order[:MAX_ADJUDICATION_OPTIONS]
    runner_up = scores[order[1]]
    best = scores[chosen]
    return Adjudication(
        kind=question.kind,
        scoring=scoring,
        options=[
            AdjudicationOption(
                text=cut(question.options[i], REPORTED_CHARS),
                score=None if scores[i] is None else round(scores[i], 3),
            )
            for i in kept
        ],
        chosen=0,
        margin=None if best is None or runner_up is None else round(max(0.0, best - runner_up), 3),
    )
