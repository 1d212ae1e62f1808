"""Run the agent for one report: take a slot, stream each step into status, record the answer.

The report is the analysis' only durable state. An analysis interrupted by anything (sidecar down,
operator killed) leaves the report Pending or Analyzing; the next attempt restarts it from a clean
reasoning chain. A sidecar that does not answer is waited for with back-off and shown on the report
as `InferenceUnavailable`; it never fails the report or crashes the operator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import kopf

from smart_sre.api.common import Phase, Trigger
from smart_sre.api.diagnosticreport import (
    DiagnosticReportStatus,
    ManagedBy,
    ObservedReport,
    ReasoningStep,
    Timings,
)
from smart_sre.investigation.investigation import Conclusion, investigate
from smart_sre.k8s.cluster import ClusterError, ClusterReader
from smart_sre.k8s.gitops import managed_by
from smart_sre.k8s.writer import ClusterWriter
from smart_sre.lifecycle.approval import SealKey
from smart_sre.lifecycle.concurrency import AnalysisSlots
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import ActivePolicy
from smart_sre.lifecycle.reports import (
    check_transition,
    event_target,
    phase_of,
    timestamp,
    with_condition,
)
from smart_sre_inference.client import ClientTimeouts, InferenceClient
from smart_sre_inference.errors import Unavailable

logger = logging.getLogger(__name__)

CONDITION_QUEUED = "Queued"
CONDITION_INFERENCE = "InferenceUnavailable"
CONDITION_ANALYZED = "Analyzed"

# Called by the investigation as each step completes.
StepCallback = Callable[[ReasoningStep], None]


class Investigator(Protocol):
    """An investigation as the operator sees it: one pod under one policy, step by step."""

    # Errors meaning "the sidecar did not answer": retried with back-off, never a failed report.
    unavailable: tuple[type[BaseException], ...]

    async def ensure_ready(self) -> None:
        """Raise one of `unavailable` unless the sidecar can take an analysis now."""

    async def __call__(
        self, pod: dict[str, Any], trigger: Trigger, policy: ActivePolicy, on_step: StepCallback
    ) -> Conclusion: ...

    async def close(self) -> None: ...


class SidecarInvestigator:
    """`investigate` with the inference sidecar as its model.

    `ensure_ready` is asked before each investigation: a sidecar that is down or still loading its
    model shows on the report as `InferenceUnavailable` and is waited for, rather than letting the
    investigation fall back to findings without the model. The client turns every way the sidecar can
    fail to answer (refused, hung past `timeouts`, a 5xx, busy) into `Unavailable`; a 4xx is an answer
    the investigation handles itself.
    """

    unavailable: tuple[type[BaseException], ...] = (Unavailable,)

    def __init__(
        self, cluster: ClusterReader, inference_url: str, *, timeouts: ClientTimeouts | None = None
    ) -> None:
        self._cluster = cluster
        self._inference = InferenceClient(inference_url, timeouts=timeouts)

    async def ensure_ready(self) -> None:
        await self._inference.require_ready()

    async def __call__(
        self, pod: dict[str, Any], trigger: Trigger, policy: ActivePolicy, on_step: StepCallback
    ) -> Conclusion:
        return await investigate(
            self._cluster, self._inference, pod, trigger, policy=policy.spec, on_step=on_step
        )

    async def close(self) -> None:
        await self._inference.close()


class ChainWriter:
    """Streams the growing reasoning chain into status; writes coalesce, so a slow API server
    delays the chain on the report but never the analysis."""

    def __init__(self, write: Callable[[list[ReasoningStep]], Awaitable[object]]) -> None:
        self._write = write
        self.chain: list[ReasoningStep] = []
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, step: ReasoningStep) -> None:
        self.chain.append(step)
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._write(list(self.chain))
            except ClusterError as error:
                logger.warning("reasoning chain not written", extra={"error": str(error)})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off for an unreachable sidecar: first, factor, cap (seconds)."""

    first: float = 2.0
    factor: float = 2.0
    cap: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.first * self.factor**attempt)


@dataclass
class Analyst:
    writer: ClusterWriter
    metrics: Metrics
    slots: AnalysisSlots
    investigate: Investigator
    clock: Callable[[], datetime]
    backoff: Backoff = field(default_factory=Backoff)
    # Seals the suggestion this analyst publishes: only a sealed one is ever applied (approval.py).
    seal_key: SealKey = field(kw_only=True)

    async def run(self, report: ObservedReport, policy: ActivePolicy) -> None:
        """Analyse until the report awaits approval, ends with findings only, or fails; waits out a down sidecar."""
        attempt = 0

        def answered(step: ReasoningStep) -> None:
            nonlocal attempt
            if step.index > 0:  # a model step (0 is the evidence, gathered without the sidecar)
                attempt = 0  # the sidecar was up: a later outage backs off from the start again

        while True:
            try:
                await self._attempt(report, policy, answered)
                return
            except self.investigate.unavailable as error:
                delay = self.backoff.delay(attempt)
                attempt += 1
                self.metrics.inference_unavailable.inc()
                name = report.metadata.name
                report = await self.writer.read_report(report.metadata.namespace, name) or report
                reason = error.reason if isinstance(error, Unavailable) else "SidecarUnreachable"
                logger.warning(
                    "inference unavailable",
                    extra={"report": name, "reason": reason, "error": str(error), "retry_in_s": delay},
                )
                report = await self.writer.patch_report_status(
                    report,
                    DiagnosticReportStatus(
                        phase=Phase.PENDING,
                        conditions=with_condition(
                            report.status.conditions,
                            CONDITION_INFERENCE,
                            True,
                            reason,
                            f"{str(error) or type(error).__name__}; retrying in {delay:g}s, the report "
                            "stays Pending until the sidecar answers (see the inference container's "
                            "logs and its /readyz)",
                            now=self.clock(),
                        ),
                    ),
                )
                await asyncio.sleep(delay)

    async def _attempt(self, report: ObservedReport, policy: ActivePolicy, answered: StepCallback) -> None:
        name = report.metadata.name
        queued_at = time.monotonic()

        async def mark_queued() -> None:
            nonlocal report
            conditions = with_condition(
                report.status.conditions,
                CONDITION_QUEUED,
                True,
                "WaitingForSlot",
                f"waiting for one of {policy.spec.max_concurrent_analyses} analysis slots of policy {policy.name} "
                f"or of the operator's {self.slots.global_limit}",
                now=self.clock(),
            )
            report = await self.writer.patch_report_status(
                report, DiagnosticReportStatus(conditions=conditions)
            )

        async with self.slots.slot(policy.name, policy.spec.max_concurrent_analyses, on_queued=mark_queued):
            # Asked before the report turns Analyzing, so a down sidecar never makes it flap.
            await self.investigate.ensure_ready()
            await self._analyse(
                report, policy, answered, queued_ms=int((time.monotonic() - queued_at) * 1000)
            )
        logger.debug("analysis slot released", extra={"report": name})

    async def _analyse(
        self, report: ObservedReport, policy: ActivePolicy, answered: StepCallback, *, queued_ms: int
    ) -> None:
        name, namespace, spec = report.metadata.name, report.metadata.namespace, report.spec
        check_transition(phase_of(report), Phase.ANALYZING)
        now = self.clock()
        conditions = with_condition(
            report.status.conditions, CONDITION_QUEUED, False, "SlotAcquired", "analysis running", now=now
        )
        if any(condition.type == CONDITION_INFERENCE for condition in conditions):
            conditions = with_condition(
                conditions, CONDITION_INFERENCE, False, "SidecarReady", "the sidecar is ready", now=now
            )
        known = report.status.timings or Timings()
        timings = known.model_copy(
            update={"started_at": known.started_at or timestamp(now), "queued_ms": queued_ms}
        )
        report = await self.writer.patch_report_status(
            report,
            DiagnosticReportStatus(
                phase=Phase.ANALYZING, conditions=conditions, timings=timings, reasoning_chain=[]
            ),
        )
        pod = await self.writer.get("Pod", namespace, spec.pod_ref.name)
        if pod is None or pod["metadata"].get("uid") != spec.pod_ref.uid:
            await self._finish_failed(report, "PodGone", f"pod {spec.pod_ref.name} no longer exists")
            return
        steps = ChainWriter(
            lambda chain: self.writer.patch_report_status(
                report, DiagnosticReportStatus(reasoning_chain=chain)
            )
        )

        def on_step(step: ReasoningStep) -> None:
            answered(step)
            steps.add(step)

        trigger = str(spec.trigger)
        started = time.monotonic()
        try:
            result = await self.investigate(pod, spec.trigger, policy, on_step)
        except self.investigate.unavailable:
            raise
        except Exception as error:  # the agent's failure is the report's, never the operator's
            logger.exception("analysis failed", extra={"report": name})
            self.metrics.analysis_duration.labels(trigger=trigger, outcome="Failed").observe(
                time.monotonic() - started
            )
            await self._finish_failed(report, "AnalysisError", f"the analysis failed: {error}")
            return
        finally:
            await steps.close()
        elapsed = time.monotonic() - started
        self.metrics.analysis_duration.labels(trigger=trigger, outcome="Completed").observe(elapsed)
        self.metrics.analysis_tokens.inc(result.tokens)
        self.metrics.analysis_steps.observe(result.steps)
        now = self.clock()
        conditions = with_condition(
            report.status.conditions,
            CONDITION_INFERENCE,
            False,
            "SidecarAnswered",
            "the sidecar answered",
            now=now,
        )
        no_patch_reason = None if result.suggested_patch else (result.no_patch_reason or "no patch was found")
        timings = timings.model_copy(update={"analysis_ms": int(elapsed * 1000)})
        if no_patch_reason is None:
            phase = Phase.AWAITING_APPROVAL
            analyzed = ("PatchSuggested", "findings and a suggested patch are ready for review")
        else:
            # Nothing to approve: the report ends here, and cooldown and retention apply from now.
            phase = Phase.FINDINGS_ONLY
            analyzed = ("FindingsOnly", f"findings only, no patch: {no_patch_reason}")
            timings = timings.model_copy(update={"finished_at": timestamp(now)})
        check_transition(Phase.ANALYZING, phase)
        conditions = with_condition(conditions, CONDITION_ANALYZED, True, *analyzed, now=now)
        managed = await self._managed_by(report, policy, result)
        # What the investigation found, with what the lifecycle adds: phase, conditions, timings.
        concluded = result.status().model_copy(
            update={
                "phase": phase,
                "conditions": conditions,
                "no_patch_reason": no_patch_reason,
                "timings": timings,
                "managed_by": managed,
            }
        )
        await self.writer.patch_report_status(report, self.seal_key.publish(report, concluded, now=now))
        kopf.info(event_target(report), reason="Analyzed", message=analyzed[1][:1024])
        logger.info("analysis complete", extra={"report": name, "seconds": round(elapsed, 1)})

    async def _managed_by(
        self, report: ObservedReport, policy: ActivePolicy, result: Conclusion
    ) -> ManagedBy | None:
        """Whether Argo CD, Flux or Helm deploys the patch target, for the report to say that a live patch
        would not last; unknown when the target cannot be read (the approver reads it again anyway)."""
        if result.suggested_patch is None:
            return None
        try:
            return await managed_by(
                self.writer,
                result.suggested_patch.target,
                mode=policy.spec.remediation.git_ops_managed,
                policy=policy.name,
                report=report.metadata.name,
            )
        except ClusterError as error:
            logger.warning(
                "GitOps management not read", extra={"report": report.metadata.name, "error": str(error)}
            )
            return None

    async def _finish_failed(self, report: ObservedReport, reason: str, message: str) -> None:
        now = self.clock()
        conditions = with_condition(
            report.status.conditions, CONDITION_ANALYZED, False, reason, message, now=now
        )
        timings = (report.status.timings or Timings()).model_copy(update={"finished_at": timestamp(now)})
        await self.writer.patch_report_status(
            report, DiagnosticReportStatus(phase=Phase.FAILED, conditions=conditions, timings=timings)
        )
        kopf.warn(event_target(report), reason=reason, message=message[:1024])
