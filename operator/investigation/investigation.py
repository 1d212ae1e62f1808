"""The investigation: evidence first, then Observation → Thought → Action steps, then the findings.

Called by the lifecycle (`lifecycle/analysis.py`, for a report), `smart-sre diagnose` and the eval
harness, through `investigate`; an `Investigation` is built once per pod and holds what every part
of it shares.

1. Deterministic evidence for the trigger is the first Observation; the analyzers turn it into ranked
   candidate causes, each with a fix built only from facts in the cluster.
2. Up to `maxSteps` model steps under the step grammar: the tool and its arguments can only name
   tools and objects that exist; each result (redacted, bounded) is appended to the transcript.
3. The model adjudicates (`adjudication`): among the closest candidates, named by what they blame and
   change, and, when the chosen candidate names no culprit, among the pod spec's settings
   (`explanation`), each by calibrated likelihood; the decisions and their margins go into the report.
   Then it writes the findings under the final grammar; a summary naming anything the evidence never
   showed is not used (`grounding`). The patch is the chosen candidate's, and only after every check
   in `patch_safety` passed; the model never writes patch values, so nothing it reads in a log can
   widen what may be changed.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from smart_sre.api.common import RootCause, Trigger
from smart_sre.api.debugpolicy import DebugPolicySpec, Remediation
from smart_sre.api.diagnosticreport import (
    MAX_STEPS_IN_CHAIN,
    Action,
    Adjudication,
    AdjudicationKind,
    Confidence,
    DiagnosticReportStatus,
    Evidence,
    Findings,
    ModelRef,
    Patch,
    ReasoningStep,
    SuggestedPatch,
    TemplateChanges,
)
from smart_sre.investigation import analyzers, explanation, prompting, suggestions
from smart_sre.investigation import evidence as evidence_module
from smart_sre.investigation.adjudication import Question, decide, framings, prior, trace
from smart_sre.investigation.analyzers.base import Candidate
from smart_sre.investigation.changes import report_changes
from smart_sre.investigation.grounding import dropped, invented
from smart_sre.investigation.patch_safety import PatchRejected, vet_patch
from smart_sre.investigation.redaction import Redactor
from smart_sre.investigation.tools.base import Inventory, ToolContext, cut
from smart_sre.investigation.tools.inventory import take_inventory
from smart_sre.investigation.tools.registry import (
    FINISH,
    TOOLS,
    StepRejected,
    parse_step,
    step_values,
    tool_for,
)
from smart_sre.investigation.untrusted import FENCE_CLOSE, FENCE_OPEN, fence
from smart_sre.k8s.cluster import ClusterError, ClusterReader
from smart_sre.k8s.owners import owner_chain
from smart_sre_grammars.values import TemplateValues
from smart_sre_inference.api import GrammarRef, Message, ModelInfo, RankResponse, Usage
from smart_sre_inference.client import Inference
from smart_sre_inference.errors import InvalidRequest, TimedOut, Unprocessable

logger = logging.getLogger(__name__)

REPORT_TEXT_CHARS = 1536  # ReasoningStep.observation / result bound in the CRD
STEP_MAX_TOKENS = 200
FINAL_MAX_TOKENS = 260
# A bad or late answer ends that part of the investigation; an unavailable sidecar (NotReady,
# QueueFull, connection errors) propagates so the caller can wait for it and retry.
_ANSWER_FAILED = (Unprocessable, InvalidRequest, TimedOut)
# Candidates whose analyzer score is this close to the best are close calls: the model ranks them.
RANK_MARGIN = 0.15
# Culprit settings the model weighs, those sharing the most with the failure's line first: each costs
# two short prompts (`adjudication.trace`), about 2.5 s on a 1.5B model on one CPU thread.
SHORTLIST = 8
MIN_SCORE = 0.01  # an analyzer's score as a prior: a zero would rule its candidate out


@dataclass(frozen=True)
class Budgets:
    max_steps: int = 6
    max_tokens: int = 24_000  # prompt + completion tokens evaluated, over the whole investigation
    wall_seconds: float = 300.0


@dataclass
class Conclusion:
    """What an investigation concludes: the report-status fields it fills, and how it got there."""

    findings: Findings
    reasoning_chain: list[ReasoningStep]
    suggested_patch: SuggestedPatch | None
    rollback_patch: Patch | None
    no_patch_reason: str | None
    candidates: list[Candidate]
    model: ModelRef | None
    prompts: dict[str, str]
    tokens: int
    stopped: str  # why the step loop ended: finish, max-steps, token-budget, wall-time, invalid-step
    changes: TemplateChanges | None = None  # the template against the last revision that ran healthy
    adjudications: list[Adjudication] = field(default_factory=list)  # what the model decided, by how much

    @property
    def steps(self) -> int:
        """Model steps taken (the evidence, step 0, is not one)."""
        return max(0, len(self.reasoning_chain) - 1)

    def status(self) -> DiagnosticReportStatus:
        """The report-status fields this conclusion fills; the lifecycle adds phase, conditions, timings."""
        return DiagnosticReportStatus(
            findings=self.findings,
            changes=self.changes,
            adjudications=self.adjudications or None,
            reasoning_chain=self.reasoning_chain,
            suggested_patch=self.suggested_patch,
            rollback_patch=self.rollback_patch,
            no_patch_reason=self.no_patch_reason,
            model=self.model,
        )


StepCallback = Callable[[ReasoningStep], None]


@dataclass
class Transcript:
    """The growing conversation: each step appends, so the sidecar can reuse the KV cache of the prefix."""

    messages: list[Message]
    tokens: int = 0
    chain: list[ReasoningStep] = field(default_factory=list)

    def spend(self, usage: Usage, *, generated: bool = True) -> None:
        """Count what the model evaluated: the prompt past its cached prefix, and what it generated."""
        self.tokens += usage.prompt_tokens - usage.cached_prompt_tokens
        if generated:
            self.tokens += usage.completion_tokens

    def asking(self, question: str) -> list[Message]:
        """The conversation with `question` in place of the last turn's suggestions and 'Step N:' cue."""
        last = self.messages[-1].content.rsplit("\nSuggested next step:", 1)[0]
        return [*self.messages[:-1], Message(role="user", content=last + "\n" + question)]


async def investigate(
    cluster: ClusterReader,
    inference: Inference | None,
    pod: dict,
    trigger: Trigger,
    *,
    policy: DebugPolicySpec | None = None,
    budgets: Budgets | None = None,
    on_step: StepCallback | None = None,
) -> Conclusion:
    """Run one investigation of a failing pod; reads the cluster, changes nothing.

    With `inference=None` no model is asked: the analyzers' best candidate is the answer (the
    evaluation's baseline, showing what the model adds).
    """
    investigation = await Investigation.start(
        cluster,
        inference,
        pod,
        trigger,
        remediation=policy.remediation if policy else Remediation(),
        budgets=budgets or Budgets(max_steps=policy.max_steps if policy else Budgets.max_steps),
        redactor=Redactor(extra_patterns=policy.redaction.patterns if policy and policy.redaction else ()),
        on_step=on_step,
    )
    return await investigation.conclude()


@dataclass
class Investigation:
    """One failing pod's investigation: the facts gathered once (owner chain, evidence, candidates,
    inventory) and the conversation, which every part reads instead of fetching or deriving again."""

    inference: Inference | None
    remediation: Remediation
    budgets: Budgets
    tool_context: ToolContext  # cluster, namespace, pod and redactor, as the read-only tools take them
    evidence: evidence_module.Evidence  # carries the owner chain, resolved once
    candidates: list[Candidate]  # redacted, strongest first, Unknown last
    inventory: Inventory
    suggested: tuple[dict, ...]  # the ready-made next steps offered to the model, most telling first
    transcript: Transcript
    on_step: StepCallback | None
    started: float  # time.monotonic() when the investigation began
    # What the model may be asked to decide, known before the first step, and the candidate each
    # cause option names; the priors (each option's likelihood with no evidence) and the decisions.
    questions: dict[AdjudicationKind, Question] = field(default_factory=dict)
    contenders: dict[str, Candidate] = field(default_factory=dict)
    priors: dict[AdjudicationKind, RankResponse] = field(default_factory=dict)
    adjudications: list[Adjudication] = field(default_factory=list)
    instruction_tuned: bool = False  # the served model's, read when the investigation concludes

    @classmethod
    async def start(
        cls,
        cluster: ClusterReader,
        inference: Inference | None,
        pod: dict,
        trigger: Trigger,
        *,
        remediation: Remediation,
        budgets: Budgets,
        redactor: Redactor,
        on_step: StepCallback | None,
    ) -> Investigation:
        """Gather everything the model and the analyzers read, and record the evidence as step 0."""
        started = time.monotonic()
        pod = {**pod, "kind": pod.get("kind", "Pod")}
        await evidence_module.learn_secret_values(cluster, pod, redactor)
        tool_context = ToolContext(
            cluster=cluster, namespace=pod["metadata"]["namespace"], pod=pod, redactor=redactor
        )
        evidence = await evidence_module.gather(tool_context, await owner_chain(cluster, pod), trigger)
        candidates = [_redacted(candidate, redactor) for candidate in analyzers.candidates(evidence)]
        inventory = await take_inventory(cluster, evidence)
        suggested = tuple(suggestions.suggested_steps(evidence, inventory))
        step_prompt = prompting.load("step")
        investigation = cls(
            inference=inference,
            remediation=remediation,
            budgets=budgets,
            tool_context=tool_context,
            evidence=evidence,
            candidates=candidates,
            inventory=inventory,
            suggested=suggested,
            transcript=Transcript(
                messages=[
                    Message(
                        role="system",
                        content=step_prompt.render(
                            tools=_tool_lines(), fence_open=FENCE_OPEN, fence_close=FENCE_CLOSE
                        ),
                    ),
                    Message(
                        role="user",
                        content=(
                            f"Observation 0:\n{fence(evidence.observation)}\n{_names(inventory)}\n"
                            f"{redactor.redact(suggestions.render(list(suggested)))}\nStep 1:"
                        ),
                    ),
                ]
            ),
            on_step=on_step,
            started=started,
        )
        investigation.record(ReasoningStep(index=0, observation=cut(evidence.observation, REPORT_TEXT_CHARS)))
        investigation.pose_questions()
        return investigation

    def pose_questions(self) -> None:
        """The decisions the model may make: between close candidates, named by what they blame and change;
        and, when a candidate that may be chosen names no culprit, between the pod spec's settings."""
        top = self.candidates[0]
        close = [
            c
            for c in self.candidates
            if c.root_cause != RootCause.UNKNOWN and not c.symptom and c.score >= top.score - RANK_MARGIN
        ]
        self.questions, self.contenders = {}, {}
        for candidate in close:
            self.contenders.setdefault(Question.option(self._option(candidate)), candidate)
        if (cause := Question.of(AdjudicationKind.CAUSE, list(self.contenders))) is not None:
            self.questions[cause.kind] = cause
        if not all(candidate.names_culprit for candidate in [top, *close]):
            options = [self.redactor.redact(option) for option in explanation.settings(self.evidence)]
            if (culprit := Question.of(AdjudicationKind.CULPRIT, options)) is not None:
                self.questions[culprit.kind] = culprit

    def _option(self, candidate: Candidate) -> str:
        """A candidate as the model weighs it: its cause and the change it makes, else its summary."""
        if candidate.patch is None:
            return f"{candidate.root_cause}: {candidate.summary}"
        owner = self.evidence.top_owner
        return f"{candidate.root_cause}: " + "; ".join(
            explanation.describe(owner, operation) for operation in candidate.patch.operations
        )

    @property
    def cluster(self) -> ClusterReader:
        return self.tool_context.cluster

    @property
    def redactor(self) -> Redactor:
        return self.tool_context.redactor

    def record(self, step: ReasoningStep) -> None:
        """Add a step to the reasoning chain and hand it to whoever streams the chain."""
        self.transcript.chain.append(step)
        if self.on_step is not None:
            self.on_step(step)

    async def conclude(self) -> Conclusion:
        """Steps, ranking and findings from the model (the analyzers' best without one), then the vetted fix."""
        if self.inference is None:
            stopped, chosen, model_ref = "no-model", self.candidates[0], None
            findings = _facts_findings(chosen)
        else:
            info = await _model_info(self.inference)
            self.instruction_tuned = info is not None and info.instruction_tuned
            if self._failure_line(()) is None:  # else the model weighs options by the failure's line
                await self.measure_priors(self.inference)
            stopped = await self.steps(self.inference)
            chosen = await self.choose(self.inference)
            explained = await self.explain(self.inference, chosen)
            findings = await self.findings(self.inference, chosen, explained)
            model_ref = _model_ref(info)
        suggested, rollback, no_patch_reason = await self.vet(chosen)
        pod = self.evidence.pod["metadata"]
        logger.info(
            "investigation done pod=%s/%s root_cause=%s patch=%s steps=%d tokens=%d stopped=%s",
            pod["namespace"],
            pod["name"],
            findings.root_cause,
            suggested is not None,
            len(self.transcript.chain) - 1,
            self.transcript.tokens,
            stopped,
        )
        return Conclusion(
            findings=findings,
            reasoning_chain=self.transcript.chain,
            suggested_patch=suggested,
            rollback_patch=rollback,
            no_patch_reason=no_patch_reason,
            candidates=self.candidates,
            model=model_ref,
            prompts={
                name: prompting.load(name).version
                for name in ("step", "final", "cause", "culprit", *framings(self.instruction_tuned))
            },
            tokens=self.transcript.tokens,
            stopped=stopped,
            changes=report_changes(self.evidence.changes),
            adjudications=self.adjudications,
        )

    def _spent(self) -> str | None:
        """Why no further step may be taken, if a budget ran out."""
        if self.transcript.tokens >= self.budgets.max_tokens:
            return "token-budget"
        if time.monotonic() - self.started >= self.budgets.wall_seconds:
            return "wall-time"
        return None

    async def steps(self, model: Inference) -> str:
        """The Observation → Thought → Action loop; returns why it stopped."""
        values = step_values(self.inventory)
        pending = list(self.suggested)  # what is still worth suggesting; the loop's own copy
        seen_actions: set[str] = set()
        for index in range(1, min(self.budgets.max_steps, MAX_STEPS_IN_CHAIN - 1) + 1):
            if spent := self._spent():
                return spent
            try:
                response = await model.generate(
                    messages=self.transcript.messages,
                    grammar=GrammarRef(name="step", values=values),
                    max_tokens=STEP_MAX_TOKENS,
                    timeout_s=max(1.0, self.budgets.wall_seconds - (time.monotonic() - self.started)),
                )
                step = parse_step(response.output, values)
            except (*_ANSWER_FAILED, StepRejected) as error:
                logger.warning("step %d failed: %s", index, error)
                return "invalid-step"
            self.transcript.spend(response.usage)
            tool = tool_for(step.action)
            args = getattr(step.action, "args", None)
            observation = self.redactor.redact(step.observation)
            thought = self.redactor.redact(step.thought)
            if tool is None:
                self.record(
                    ReasoningStep(
                        index=index, observation=observation, thought=thought, action=Action(tool=FINISH)
                    )
                )
                return "finish"
            key = suggestions.action_key(response.output["action"])
            if key in seen_actions:  # a small model that repeats itself has nothing more to learn
                return "repeated-action"
            seen_actions.add(key)
            pending = [later for later in pending if suggestions.action_key(later["action"]) != key]
            result = await tool.call(self.tool_context, args)
            self.record(
                ReasoningStep(
                    index=index,
                    observation=observation,
                    thought=thought,
                    action=Action(tool=tool.name, arguments=_arguments(args)),
                    result=cut(result, REPORT_TEXT_CHARS),
                )
            )
            self.transcript.messages += [
                Message(role="assistant", content=self.redactor.redact(response.text)),
                Message(
                    role="user",
                    content=(
                        f"Result {index}:\n{fence(result)}\n{self.redactor.redact(suggestions.render(pending))}\n"
                        f"Step {index + 1}:"
                    ),
                ),
            ]
        return "max-steps"

    async def measure_priors(self, model: Inference) -> None:
        """The cause options weighed with nothing observed, before the transcript fills the cache."""
        for kind, question in self.questions.items():
            if kind != AdjudicationKind.CAUSE:
                continue
            try:
                self.priors[kind] = await prior(model, system=self.transcript.messages[0], question=question)
            except _ANSWER_FAILED as error:
                logger.warning("no prior for the %s question, deciding uncalibrated: %s", kind, error)
                continue
            self.transcript.spend(self.priors[kind].usage, generated=False)

    async def _decide(
        self, model: Inference, question: Question, line: str | None, weights: list[float]
    ) -> str | None:
        """The option the model prefers, recorded with its margin: by the failure's `line` given each
        option, on top of its prior `weights`, where there is a line and the model gives likelihoods;
        else after the whole transcript."""
        try:
            decision = (
                await trace(
                    model,
                    question=question,
                    line=line,
                    weights=weights,
                    instruction_tuned=self.instruction_tuned,
                )
                if line
                else None
            )
            decision = decision or await decide(
                model,
                messages=self.transcript.asking(question.text()),
                question=question,
                baseline=self.priors.get(question.kind),
            )
        except _ANSWER_FAILED as error:
            logger.warning("the %s question went unanswered: %s", question.kind, error)
            return None
        self.transcript.spend(decision.usage, generated=False)
        self.adjudications.append(decision.record)
        logger.info(
            "model decided kind=%s scoring=%s margin=%s chosen=%s",
            question.kind,
            decision.record.scoring,
            decision.record.margin,
            decision.chosen,
        )
        return decision.chosen

    async def choose(self, model: Inference) -> Candidate:
        """The analyzers' best candidate, unless others come close: then the model's decision, with the
        analyzers' scores as its prior."""
        top = self.candidates[0]
        question = self.questions.get(AdjudicationKind.CAUSE)
        if question is None:
            return top
        weights = [math.log(max(self.contenders[option].score, MIN_SCORE)) for option in question.options]
        chosen = await self._decide(model, question, self._failure_line(()), weights)
        return self.contenders.get(chosen, top) if chosen else top

    async def explain(self, model: Inference, chosen: Candidate) -> str | None:
        """When the chosen candidate names no culprit: the setting the model blames, and the line showing it.
        The settings that share most with the failure's line are weighed, that sharing as their prior."""
        question = self.questions.get(AdjudicationKind.CULPRIT)
        if chosen.names_culprit or question is None:
            return None
        line = self._failure_line(chosen.facts)
        weights = explanation.relevance(list(question.options), [line] if line else [])
        likeliest = sorted(range(len(weights)), key=lambda index: -weights[index])[:SHORTLIST]
        shortlist = Question(kind=question.kind, options=tuple(question.options[i] for i in likeliest))
        setting = await self._decide(model, shortlist, line, [weights[i] for i in likeliest])
        if setting is None:
            return None
        lines = [self.redactor.redact(text) for text in explanation.evidence_lines(self.evidence)]
        shown = explanation.showing(setting, lines) or line
        # The chosen cause's summary follows the explanation: a line it already quotes is not repeated.
        shown = None if shown and shown in chosen.summary else shown
        return explanation.explanation(explanation.whole(setting, question.options), shown)

    def _failure_line(self, facts: tuple[str, ...]) -> str | None:
        """The line that shows how the pod fails, as the model may read it."""
        line = explanation.failure_line(self.evidence, facts)
        return self.redactor.redact(line) if line else None

    async def findings(self, model: Inference, chosen: Candidate, explained: str | None) -> Findings:
        """The model's findings under the final grammar, restricted to the chosen cause; facts if it fails.

        An explanation of what no analyzer covers leads the summary; the model's own summary is used only
        where there is none, it names nothing the evidence never showed, and it keeps every name the
        cause gives to what should change (`grounding.dropped`: its quoted values and spec fields)."""
        steps = tuple(step.index for step in self.transcript.chain)
        question = prompting.load("final").render(
            cause=str(chosen.root_cause),
            described=fence(f"{chosen.summary}\nFacts: {'; '.join(chosen.facts) or 'none'}"),
            fence_open=FENCE_OPEN,
            fence_close=FENCE_CLOSE,
        )
        values = TemplateValues(root_causes=(chosen.root_cause.value,), steps=steps)
        summary = f"{explained} {chosen.summary}" if explained else chosen.summary
        confidence, cited = _confidence(chosen.score), [0]
        try:
            response = await model.generate(
                messages=self.transcript.asking(question),
                grammar=GrammarRef(name="final", values=values),
                max_tokens=FINAL_MAX_TOKENS,
            )
            self.transcript.spend(response.usage)
            written = response.output["findings"]
            names = {"container": set(self.inventory.containers), "node": set(self.inventory.nodes)}
            absent = invented(written["summary"], self._known_text(chosen), names)
            left_out = dropped(written["summary"], chosen.summary)
            if explained is None and written["summary"].strip() and not absent and not left_out:
                summary = written["summary"].strip()
            elif absent:
                logger.info(
                    "model summary not used: it names %s, which the evidence never showed", absent[:5]
                )
            elif left_out:
                logger.info(
                    "model summary not used: it leaves out %s, which the analyzers found", left_out[:5]
                )
            confidence = Confidence(written["confidence"].capitalize())
            cited = [step for step in written["evidence"] if step in steps] or cited
        except _ANSWER_FAILED as error:
            logger.warning("final answer failed, reporting the analyzers' findings: %s", error)
        evidence = [
            Evidence(step=step, quote=_quote(self.transcript.chain[step], chosen, self.redactor))
            for step in dict.fromkeys(cited)
        ]
        return Findings(
            summary=cut(self.redactor.redact(summary), 400),
            root_cause=chosen.root_cause,
            confidence=confidence,
            evidence=evidence[:8],
        )

    def _known_text(self, chosen: Candidate) -> str:
        """Everything the investigation showed: what a summary may name."""
        parts = [chosen.summary, *chosen.facts]
        for step in self.transcript.chain:
            parts += [step.observation, step.result or ""]
        return "\n".join(parts)

    async def vet(self, chosen: Candidate) -> tuple[SuggestedPatch | None, Patch | None, str | None]:
        """The chosen candidate's fix, offered only once every patch-safety check passed on the owner chain."""
        if chosen.patch is None:
            return None, None, cut(chosen.no_patch_reason or "no fix is supported by the facts", 400)
        raw = json.dumps(chosen.patch.operations, sort_keys=True)
        if self.redactor.redact(raw) != raw:
            return None, None, "the fix would carry a secret-looking value, so it is not offered"
        try:
            safe = await vet_patch(
                self.cluster,
                self.evidence.chain,
                chosen.patch.target,
                chosen.patch.operations,
                self.remediation,
            )
        except (PatchRejected, ClusterError) as error:  # a dry run the API server failed proves nothing
            logger.info("patch not offered target=%s reason=%s", chosen.patch.target, error)
            return None, None, cut(f"a fix was found but not offered: {error}", 400)
        return safe.suggested, safe.rollback, None


def _names(inventory: Inventory) -> str:
    """The names a step may use, most relevant first: the model copies what it sees."""
    return (
        f"Names: pod {inventory.pod}; containers {', '.join(inventory.containers)}; "
        f"services {', '.join(inventory.hosts[:8]) or 'none'}; nodes {', '.join(inventory.nodes[:5]) or 'none'}"
    )


def _tool_lines() -> str:
    return "\n".join(f"- {name}: {tool.description}" for name, tool in TOOLS.items()) + (
        f"\n- {FINISH}: stop investigating, the cause is clear"
    )


def _arguments(args: Any) -> dict[str, str] | None:
    if args is None:
        return None
    return {key: cut(str(value), 253) for key, value in args.model_dump().items()}


def _redacted(candidate: Candidate, redactor: Redactor) -> Candidate:
    """Candidates quote pod status and events; they reach prompts and reports only redacted."""
    return replace(
        candidate,
        summary=redactor.redact(candidate.summary),
        facts=tuple(redactor.redact(fact) for fact in candidate.facts),
        no_patch_reason=redactor.redact(candidate.no_patch_reason) if candidate.no_patch_reason else None,
    )


def _facts_findings(chosen: Candidate) -> Findings:
    """Findings from the analyzers alone, citing the evidence (step 0)."""
    quote = chosen.facts[0] if chosen.facts else chosen.summary
    return Findings(
        summary=cut(chosen.summary, 400),
        root_cause=chosen.root_cause,
        confidence=_confidence(chosen.score),
        evidence=[Evidence(step=0, quote=cut(quote, 256))],
    )


def _confidence(score: float) -> Confidence:
    return Confidence.HIGH if score >= 0.85 else Confidence.MEDIUM if score >= 0.6 else Confidence.LOW


def _quote(step: ReasoningStep, chosen: Candidate, redactor: Redactor) -> str:
    """The line of a step that shows the cause: the analyzer's fact for the evidence, else the result's first."""
    if step.index == 0 and chosen.facts:
        return cut(redactor.redact(chosen.facts[0]), 256)
    text = step.result or step.observation or step.thought or "(empty)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return cut(redactor.redact(lines[0] if lines else text), 256)


async def _model_info(inference: Inference) -> ModelInfo | None:
    """What the sidecar serves: the report records its identity, and the questions fit its tuning."""
    try:
        return await inference.models()
    except (*_ANSWER_FAILED, NotImplementedError) as error:  # a sidecar gone away is not ignored here
        logger.warning("cannot read the model identity: %s", error)
        return None


def _model_ref(info: ModelInfo | None) -> ModelRef | None:
    if info is None:
        return None
    entry = info.lock_entry
    try:
        return ModelRef(name=entry.get("name", info.name), sha256=entry.get("sha256", ""))
    except ValueError:
        return None
