"""The DiagnosticReport lifecycle: open exactly one per problem, move it through its phases, clean up.

A problem is (namespace, top-level workload owner, trigger). Its reports carry the problem's hash as
a label and a deterministic name, so finding "is one already open?" is a label query, and two
openers racing (replicas failing together, a re-listed watch, a restarted operator) collide on the
name at the API server: the loser gets 409 and takes the winner's report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from smart_sre.api.common import API_VERSION, Phase, Trigger
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.writer import ClusterWriter
from smart_sre.lifecycle import naming
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import ActivePolicy
from smart_sre.lifecycle.triggers import Detection, parse_time

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
    Phase.AWAITING_APPROVAL: frozenset({Phase.APPLYING, Phase.REJECTED, Phase.STALE}),
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


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def phase_of(report: Mapping[str, Any]) -> Phase:
    """The report's phase; a report whose status was not written yet is Pending."""
    return Phase((report.get("status") or {}).get("phase") or Phase.PENDING)


def check_transition(current: Phase, new: Phase) -> None:
    if new != current and new not in TRANSITIONS[current]:
        raise TransitionError(f"a report in phase {current} cannot move to {new}")


def with_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """`conditions` with one condition set; lastTransitionTime moves only when the status flips."""
    status_text = "True" if status else "False"
    result: list[dict[str, Any]] = []
    previous: Mapping[str, Any] | None = None
    for condition in conditions or ():
        if condition.get("type") == type_:
            previous = condition
        else:
            result.append(dict(condition))
    changed = previous is None or previous.get("status") != status_text
    result.append(
        {
            "type": type_,
            "status": status_text,
            "reason": reason,
            "message": message[:1024],
            "lastTransitionTime": rfc3339(now) if changed else previous["lastTransitionTime"],
        }
    )
    return result[-MAX_CONDITIONS:]


def condition_of(report: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for condition in (report.get("status") or {}).get("conditions") or ():
        if condition.get("type") == type_:
            return condition
    return None


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


def closed_at(report: Mapping[str, Any]) -> datetime | None:
    """When a closed report closed: its finish time, or its creation if it never recorded one."""
    if phase_of(report) not in CLOSED_PHASES:
        return None
    status = report.get("status") or {}
    return parse_time((status.get("timings") or {}).get("finishedAt")) or parse_time(
        (report.get("metadata") or {}).get("creationTimestamp")
    )


def occurrence_of(report: Mapping[str, Any]) -> int:
    try:
        return int(((report.get("metadata") or {}).get("labels") or {}).get(LABEL_OCCURRENCE, "1"))
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


def decide_opening(reports: Sequence[Mapping[str, Any]], cooldown: timedelta, now: datetime) -> Opening:
    """Open a new report unless one is open, or the last one closed less than `cooldown` ago."""
    for report in reports:
        if phase_of(report) in OPEN_PHASES:
            return Opening(None, "AlreadyOpen", report["metadata"]["name"])
    closed = [(closed_at(report) or now, report) for report in reports]
    if closed:
        last_closed, last = max(closed, key=lambda pair: pair[0])
        if now - last_closed < cooldown:
            return Opening(None, "CoolingDown", last["metadata"]["name"], retry_at=last_closed + cooldown)
    occurrence = max((occurrence_of(report) for report in reports), default=0) + 1
    return Opening(occurrence, "Opened")


def build_report(
    problem: Problem, pod: Mapping[str, Any], policy: ActivePolicy, occurrence: int
) -> dict[str, Any]:
    metadata = pod.get("metadata") or {}
    workload = problem.workload
    return {
        "apiVersion": API_VERSION,
        "kind": "DiagnosticReport",
        "metadata": {
            "name": problem.report_name(occurrence),
            "namespace": problem.namespace,
            "labels": {
                LABEL_PROBLEM: problem.key,
                LABEL_OCCURRENCE: str(occurrence),
                LABEL_POLICY: policy.name,
                LABEL_TRIGGER: str(problem.trigger),
            },
        },
        "spec": {
            "podRef": {"name": metadata["name"], "uid": metadata["uid"]},
            "workloadRef": {
                "apiVersion": workload.api_version,
                "kind": workload.kind,
                "name": workload.name,
                "uid": workload.uid,
            },
            "trigger": str(problem.trigger),
            "policyRef": {"name": policy.name},
        },
    }


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

    def observe(self, report: Mapping[str, Any], *, deleted: bool = False) -> None:
        """Keep the open-report cache in step with the report watch."""
        key = ((report.get("metadata") or {}).get("labels") or {}).get(LABEL_PROBLEM)
        if key is None:
            return
        if deleted:
            self._closed.pop(key, None)
        if deleted or phase_of(report) in CLOSED_PHASES:
            if self._open.get(key) == report["metadata"]["name"]:
                del self._open[key]
        else:
            self._open[key] = report["metadata"]["name"]

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
            opening = decide_opening(existing, policy.cooldown, self._clock())
            if opening.occurrence is None:
                if opening.reason == "AlreadyOpen" and opening.existing:
                    self._open[key] = opening.existing
                if opening.retry_at is not None:
                    self._closed[key] = opening.retry_at - policy.cooldown
                logger.debug("report not opened", extra={"problem": key, "reason": opening.reason})
                return opening
            body = build_report(problem, pod, policy, opening.occurrence)
            try:
                report = await self._writer.create_report(problem.namespace, body)
            except ClusterError as error:
                if error.status != 409:
                    raise
                self._open[key] = body["metadata"]["name"]
                return Opening(None, "AlreadyOpen", body["metadata"]["name"])
            self._open[key] = report["metadata"]["name"]
        await self._writer.patch_report_status(
            problem.namespace,
            report["metadata"]["name"],
            {"phase": Phase.PENDING, "timings": {"startedAt": rfc3339(self._clock())}},
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
            message=f"opened DiagnosticReport {report['metadata']['name']}",
        )
        kopf.info(report, reason="Opened", message=message)
        logger.info(
            "report opened",
            extra={
                "report": report["metadata"]["name"],
                "namespace": problem.namespace,
                "trigger": problem.trigger,
            },
        )
        return opening


def expired(
    report: Mapping[str, Any], retention: timedelta, now: datetime, *, cooldown: timedelta = timedelta(0)
) -> bool:
    """Whether a closed report has outlived its retention, and the cooldown it enforces: deleting it
    earlier would let the same problem open again at once."""
    finished = closed_at(report)
    return finished is not None and now - finished >= max(retention, cooldown)
