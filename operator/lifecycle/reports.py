"""The DiagnosticReport lifecycle: open exactly one per problem, move it through its phases, clean up.

A problem is (namespace, top-level workload owner, trigger). Its reports carry the problem's hash as
a label and a deterministic name, so finding "is one already open?" is a label query, and two
openers racing (replicas failing together, a re-listed watch, a restarted operator) collide on the
name at the API server: the loser gets 409 and takes the winner's report.

The controller, the analysis and the approval read reports typed (`ObservedReport`) through the
helpers here, and write typed status updates holding only the fields they change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from smart_sre.api.common import Condition, ConditionStatus, ObjectMeta, Phase, Trigger
from smart_sre.api.diagnosticreport import (
    DiagnosticReport,
    DiagnosticReportSpec,
    DiagnosticReportStatus,
    ObservedReport,
    PodRef,
    PolicyRef,
    Timings,
    WorkloadRef,
)
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.writer import ClusterWriter
from smart_sre.lifecycle import naming
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import ActivePolicy
from smart_sre.lifecycle.triggers import Detection

logger = logging.getLogger(__name__)

LABEL_PROBLEM = "smartsre.io/problem"
LABEL_OCCURRENCE = "smartsre.io/occurrence"
LABEL_POLICY = "smartsre.io/policy"
LABEL_TRIGGER = "smartsre.io/trigger"

OPEN_PHASES = frozenset({Phase.PENDING, Phase.ANALYZING, Phase.AWAITING_APPROVAL, Phase.APPLYING})
CLOSED_PHASES = frozenset({Phase.FINDINGS_ONLY, Phase.APPLIED, Phase.FAILED, Phase.REJECTED, Phase.STALE})

# Which phase may follow which; anything else is a bug in the operator, refused loudly.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.PENDING: frozenset({Phase.ANALYZING, Phase.FAILED}),
    # Back to Pending when an analysis is interrupted (sidecar down, operator restarted).
    Phase.ANALYZING: frozenset({Phase.PENDING, Phase.AWAITING_APPROVAL, Phase.FINDINGS_ONLY, Phase.FAILED}),
    # Failed: the suggestion was not the operator's (approval.py refuses it and closes the report).
    Phase.AWAITING_APPROVAL: frozenset({Phase.APPLYING, Phase.REJECTED, Phase.STALE, Phase.FAILED}),
    Phase.APPLYING: frozenset({Phase.APPLIED, Phase.FAILED, Phase.STALE}),
    # A rollback, approved like the patch was, applies the stored inverse patch.
    Phase.APPLIED: frozenset({Phase.APPLYING}),
    Phase.FINDINGS_ONLY: frozenset(),
    Phase.FAILED: frozenset(),
    Phase.REJECTED: frozenset(),
    Phase.STALE: frozenset(),
}

MAX_CONDITIONS = 8


class TransitionError(RuntimeError):
    """The operator tried a phase change the lifecycle does not allow."""


def now_utc() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> datetime:
    """`moment` as Kubernetes keeps times: UTC, whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0)


def phase_of(report: ObservedReport) -> Phase:
    """The report's phase; a report whose status was not written yet is Pending."""
    return report.status.phase or Phase.PENDING


def check_transition(current: Phase, new: Phase) -> None:
    if new != current and new not in TRANSITIONS[current]:
        raise TransitionError(f"a report in phase {current} cannot move to {new}")


def with_condition(
    conditions: Sequence[Condition] | None,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    *,
    now: datetime,
) -> list[Condition]:
    """`conditions` with one condition set; lastTransitionTime moves only when the status flips."""
    wanted = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    previous = next((condition for condition in conditions or () if condition.type == type_), None)
    since = previous.last_transition_time if previous and previous.status == wanted else timestamp(now)
    condition = Condition(
        type=type_, status=wanted, reason=reason, message=message[:1024], last_transition_time=since
    )
    others = [kept for kept in conditions or () if kept.type != type_]
    return [*others, condition][-MAX_CONDITIONS:]


def condition_of(report: ObservedReport, type_: str) -> Condition | None:
    return next((condition for condition in report.status.conditions or () if condition.type == type_), None)


def event_target(report: DiagnosticReport) -> dict[str, Any]:
    """The report as `kopf.info` and `kopf.warn` name it in an Event's involvedObject."""
    return {
        "apiVersion": report.api_version,
        "kind": report.kind,
        "metadata": report.metadata.model_dump(include={"name", "namespace", "uid"}),
    }


@dataclass(frozen=True)
class Workload:
    """The top-level owner a human manages (or the bare pod), as the report's workloadRef."""

    api_version: str
    kind: str
    name: str
    uid: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Workload:
        metadata = obj.get("metadata") or {}
        return cls(
            obj.get("apiVersion") or "v1", obj.get("kind") or "Pod", metadata["name"], metadata.get("uid", "")
        )


@dataclass(frozen=True)
class Problem:
    namespace: str
    workload: Workload
    trigger: Trigger

    @property
    def key(self) -> str:
        return naming.problem_key(self.namespace, self.workload.kind, self.workload.name, self.trigger)

    def report_name(self, occurrence: int) -> str:
        return naming.report_name(
            self.namespace, self.workload.kind, self.workload.name, self.trigger, occurrence
        )


def closed_at(report: ObservedReport) -> datetime | None:
    """When a closed report closed: its finish time, or its creation if it never recorded one."""
    if phase_of(report) not in CLOSED_PHASES:
        return None
    timings = report.status.timings
    return (timings.finished_at if timings else None) or report.metadata.creation_timestamp


def occurrence_of(report: ObservedReport) -> int:
    try:
        return int(report.metadata.labels.get(LABEL_OCCURRENCE, "1"))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Opening:
    """What to do about a detected problem: open occurrence N, or leave it to `existing`.

    While cooling down, `retry_at` is when the problem may open again: a pod that stays Pending shows
    no new event then, so the controller looks at it again at that moment.
    """

    occurrence: int | None
    reason: str
    existing: str | None = None
    retry_at: datetime | None = None


def decide_opening(
    reports: Sequence[ObservedReport], cooldown: timedelta, now: datetime, *, last_occurrence: int = 0
) -> Opening:
    """Open a new report unless one is open, or the last one closed less than `cooldown` ago.

    `last_occurrence` is the highest occurrence known of reports already gone (deleted after their
    retention), so a problem that comes back never reuses an earlier report's name."""
    for report in reports:
        if phase_of(report) in OPEN_PHASES:
            return Opening(None, "AlreadyOpen", report.metadata.name)
    closed = [(closed_at(report) or now, report) for report in reports]
    if closed:
        last_closed, last = max(closed, key=lambda pair: pair[0])
        if now - last_closed < cooldown:
            return Opening(None, "CoolingDown", last.metadata.name, retry_at=last_closed + cooldown)
    occurrence = max([last_occurrence, *(occurrence_of(report) for report in reports)]) + 1
    return Opening(occurrence, "Opened")


def build_report(
    problem: Problem, pod: Mapping[str, Any], policy: ActivePolicy, occurrence: int
) -> DiagnosticReport:
    metadata = pod.get("metadata") or {}
    workload = problem.workload
    return DiagnosticReport(
        metadata=ObjectMeta(
            name=problem.report_name(occurrence),
            namespace=problem.namespace,
            labels={
                LABEL_PROBLEM: problem.key,
                LABEL_OCCURRENCE: str(occurrence),
                LABEL_POLICY: policy.name,
                LABEL_TRIGGER: str(problem.trigger),
            },
        ),
        spec=DiagnosticReportSpec(
            pod_ref=PodRef(name=metadata["name"], uid=metadata["uid"]),
            workload_ref=WorkloadRef(
                api_version=workload.api_version, kind=workload.kind, name=workload.name, uid=workload.uid
            ),
            trigger=problem.trigger,
            policy_ref=PolicyRef(name=policy.name),
        ),
    )


class ReportOpener:
    """Opens at most one report per problem; safe to call for every pod event of every replica."""

    def __init__(
        self, writer: ClusterWriter, metrics: Metrics, clock: Callable[[], datetime] = now_utc
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._open: dict[str, str] = {}  # problem key -> name of its open report, as last seen
        # problem key -> when its last report closed, learnt while cooling down: the replicas' pod
        # events during a cooldown are answered from here, not with a list call each.
        self._closed: dict[str, datetime] = {}
        # problem key -> the highest occurrence seen, kept when its report is deleted after retention: a
        # problem still failing then opens the next occurrence, not a second report of the same name.
        self._occurrences: dict[str, int] = {}

    def observe(self, report: ObservedReport, *, deleted: bool = False) -> None:
        """Keep the open-report cache in step with the report watch."""
        key = report.metadata.labels.get(LABEL_PROBLEM)
        if key is None:
            return
        self._occurrences[key] = max(self._occurrences.get(key, 0), occurrence_of(report))
        if deleted:
            self._closed.pop(key, None)
        if deleted or phase_of(report) in CLOSED_PHASES:
            if self._open.get(key) == report.metadata.name:
                del self._open[key]
        else:
            self._open[key] = report.metadata.name

    async def open(
        self, problem: Problem, pod: Mapping[str, Any], policy: ActivePolicy, detection: Detection
    ) -> Opening:
        """Create the problem's report unless one is open or the problem is cooling down."""
        key = problem.key
        if key in self._open:
            return Opening(None, "AlreadyOpen", self._open[key])
        if (closed := self._closed.get(key)) is not None and self._clock() < closed + policy.cooldown:
            return Opening(None, "CoolingDown", retry_at=closed + policy.cooldown)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._open:
                return Opening(None, "AlreadyOpen", self._open[key])
            existing = await self._writer.list_reports(
                problem.namespace, label_selector=f"{LABEL_PROBLEM}={key}"
            )
            opening = decide_opening(
                existing, policy.cooldown, self._clock(), last_occurrence=self._occurrences.get(key, 0)
            )
            if opening.occurrence is None:
                if opening.reason == "AlreadyOpen" and opening.existing:
                    self._open[key] = opening.existing
                if opening.retry_at is not None:
                    self._closed[key] = opening.retry_at - policy.cooldown
                logger.debug("report not opened", extra={"problem": key, "reason": opening.reason})
                return opening
            wanted = build_report(problem, pod, policy, opening.occurrence)
            try:
                report = await self._writer.create_report(wanted)
            except ClusterError as error:
                if error.status != 409:
                    raise
                self._open[key] = wanted.metadata.name
                return Opening(None, "AlreadyOpen", wanted.metadata.name)
            self._open[key] = report.metadata.name
        await self._writer.patch_report_status(
            report,
            DiagnosticReportStatus(phase=Phase.PENDING, timings=Timings(started_at=timestamp(self._clock()))),
        )
        self._metrics.reports_created.labels(trigger=str(problem.trigger)).inc()
        message = (
            f"{detection.reason} on {problem.workload.kind}/{problem.workload.name}: {detection.message}"[
                :1024
            ]
        )
        kopf.warn(
            dict(pod),
            reason="DiagnosticReportOpened",
            message=f"opened DiagnosticReport {report.metadata.name}",
        )
        kopf.info(event_target(report), reason="Opened", message=message)
        logger.info(
            "report opened",
            extra={
                "report": report.metadata.name,
                "namespace": problem.namespace,
                "trigger": problem.trigger,
            },
        )
        return opening


def expired(
    report: ObservedReport, retention: timedelta, now: datetime, *, cooldown: timedelta = timedelta(0)
) -> bool:
    """Whether a closed report has outlived its retention, and the cooldown it enforces: deleting it
    earlier would let the same problem open again at once."""
    finished = closed_at(report)
    return finished is not None and now - finished >= max(retention, cooldown)
