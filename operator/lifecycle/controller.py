"""The operator's state and its reactions to what the watches deliver; Kopf handlers only forward here.

Every reaction is idempotent and driven by the objects as they are now, so a re-listed watch or a
restarted operator lands in the same place: pods are re-evaluated, reports found open are resumed
(analysis restarted, an interrupted apply finished or recognised as done), and the deterministic
report names make duplicates impossible. At most one task runs per report.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import kopf
from pydantic import ValidationError

from smart_sre.api.common import Condition, ConditionStatus, Phase
from smart_sre.api.debugpolicy import DebugPolicyStatus
from smart_sre.api.diagnosticreport import (
    DiagnosticReportStatus,
    ObservedReport,
    PatchTarget,
    Verification,
    VerificationResult,
)
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.owners import controller_ref, owner_chain
from smart_sre.k8s.writer import ClusterWriter
from smart_sre.lifecycle.analysis import CONDITION_ANALYZED, Analyst, Investigator
from smart_sre.lifecycle.approval import (
    CONDITION_APPLIED,
    CONDITION_ROLLED_BACK,
    Approver,
    SealKey,
    judge,
)
from smart_sre.lifecycle.audit import AuditError, AuditFile, AuditTrail
from smart_sre.lifecycle.concurrency import AnalysisSlots
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.notifications import NotificationSettings, Notifier
from smart_sre.lifecycle.policies import REASON_NOT_FOUND, ActivePolicy, PolicyBook, PolicyEntry
from smart_sre.lifecycle.reports import (
    CLOSED_PHASES,
    LABEL_POLICY,
    OPEN_PHASES,
    Problem,
    ReportOpener,
    Workload,
    condition_of,
    event_target,
    expired,
    now_utc,
    phase_of,
    timestamp,
    with_condition,
)
from smart_sre.lifecycle.triggers import evaluate
from smart_sre.lifecycle.verification import verify

logger = logging.getLogger(__name__)

CONDITION_VERIFIED = "Verified"
# On a Pending or Analyzing report: whether the policy it names lets it be analysed, and if not why.
CONDITION_POLICY_READY = "PolicyReady"

ObjectKey = tuple[str, str]


@dataclass(frozen=True)
class ControllerSettings:
    max_concurrent_analyses: int = 2
    verification_window: timedelta = timedelta(minutes=2)
    verification_poll_seconds: float = 2.0
    housekeeping_seconds: float = 10.0
    default_retention: timedelta = timedelta(hours=168)
    retry_seconds: float = 5.0
    # The watches start together: for this long after start a policy not seen yet may still be on its
    # way, so a report naming it is not yet marked PolicyNotFound.
    policy_listing_seconds: float = 5.0
    # Closed reports are also appended here (JSON lines), besides the `smart_sre.audit` log.
    audit_file: Path | None = None
    notifications: NotificationSettings = field(default_factory=NotificationSettings)


def _awaiting_since(report: ObservedReport) -> datetime | None:
    """When a report in AwaitingApproval began to wait for a human: when its analysis concluded."""
    analyzed = condition_of(report, CONDITION_ANALYZED)
    return analyzed.last_transition_time if analyzed else report.metadata.creation_timestamp


def _unverified(report: ObservedReport) -> PatchTarget | None:
    """The target of a patch applied (or rolled back) whose rollout has not been verified yet."""
    applied = condition_of(report, CONDITION_ROLLED_BACK) or condition_of(report, CONDITION_APPLIED)
    status = report.status
    if (
        phase_of(report) is Phase.APPLIED
        and applied
        and applied.status is ConditionStatus.TRUE
        and status.verification is None
        and status.suggested_patch is not None
    ):
        return status.suggested_patch.target
    return None


def _key(obj: Mapping[str, Any]) -> ObjectKey:
    metadata = obj.get("metadata") or {}
    return metadata.get("namespace") or "", metadata["name"]


def _report_key(report: ObservedReport) -> ObjectKey:
    return report.metadata.namespace or "", report.metadata.name


_KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "labels",
    "ownerReferences",
    "creationTimestamp",
    "deletionTimestamp",
)
_KEPT_STATUS = ("phase", "conditions", "containerStatuses", "initContainerStatuses")


def _slim(pod: Mapping[str, Any]) -> dict[str, Any]:
    """What the pod cache keeps for 1,000s of pods: enough to re-evaluate selectors and triggers.

    The analysis reads the full pod from the API server when it starts.
    """
    metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {key: metadata[key] for key in _KEPT_METADATA if key in metadata},
        "spec": {"nodeName": (pod.get("spec") or {}).get("nodeName")},
        "status": {key: status[key] for key in _KEPT_STATUS if key in status},
    }


class Controller:
    def __init__(
        self,
        writer: ClusterWriter,
        policies: PolicyBook,
        metrics: Metrics,
        investigate: Investigator,
        settings: ControllerSettings | None = None,
        clock: Callable[[], datetime] = now_utc,
        *,
        seal_key: SealKey,
    ) -> None:
        self.settings = settings or ControllerSettings()
        self.writer = writer
        self.policies = policies
        self.metrics = metrics
        self.clock = clock
        self._started = time.monotonic()
        self.slots = AnalysisSlots(self.settings.max_concurrent_analyses)
        metrics.watch_slots(self.slots)
        self.opener = ReportOpener(writer, metrics, clock)
        # Seals each suggestion the analyst publishes; an approval applies only a sealed one.
        self.seal_key = seal_key
        self.analyst = Analyst(writer, metrics, self.slots, investigate, clock, seal_key=seal_key)
        # The operator's own client asks the API server whether each approver may make the change themselves.
        self.approver = Approver(writer, metrics, reviews=writer)
        path = self.settings.audit_file
        self.audit = AuditTrail(
            writer, seal_key=seal_key, file=AuditFile(path) if path else None, clock=clock
        )
        self.notifier = Notifier(
            writer,
            policies=policies,
            registry=metrics.registry,
            settings=self.settings.notifications,
            clock=clock,
            on_outcome=self._dispatch_latest,
        )
        self._pods: dict[ObjectKey, dict[str, Any]] = {}
        # The owner chain is resolved once per ReplicaSet (or bare pod), shared by every replica.
        self._workloads: dict[str, asyncio.Task[Workload]] = {}
        self._due: dict[ObjectKey, asyncio.TimerHandle] = {}
        self._rechecks: set[asyncio.Task[None]] = set()
        self._reports: dict[ObjectKey, ObservedReport] = {}
        self._tasks: dict[ObjectKey, asyncio.Task[Any]] = {}
        self._policy_status: dict[str, DebugPolicyStatus] = {}

    async def close(self) -> None:
        for task in [*self._tasks.values(), *self._rechecks]:
            task.cancel()
        for handle in self._due.values():
            handle.cancel()
        await self.analyst.investigate.close()
        await self.notifier.close()
        self.writer.close()

    # --- policies -------------------------------------------------------------------------------

    async def on_policy(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        if event_type == "DELETED":
            self.policies.remove(name)
            self._policy_status.pop(name, None)
            self._dispatch_reports_of(name)  # an open report now says its policy is gone
            return
        previous = self.policies.entries.get(name)
        if name not in self._policy_status and body.get("status"):
            self._remember_policy_status(name, body["status"])
        entry = self.policies.upsert(body)
        await self._write_policy_status(entry)
        if previous is not None and previous.generation == entry.generation:
            return  # our own status write, or a re-list: the selection did not change
        logger.info(
            "policy changed",
            extra={"policy": name, "ready": entry.readiness.ready, "reason": entry.readiness.reason},
        )
        if entry.policy is not None:
            for pod in list(self._pods.values()):
                await self._evaluate(pod)
        self._dispatch_reports_of(name)

    def _dispatch_reports_of(self, policy: str) -> None:
        for report in list(self._reports.values()):
            if report.spec.policy_ref.name == policy:
                self.notifier.observe(report)  # the report may have come before its policy
                self._dispatch(report)

    def _remember_policy_status(self, name: str, status: Mapping[str, Any]) -> None:
        """The status a policy had before this operator started: its condition times are kept."""
        try:
            self._policy_status[name] = DebugPolicyStatus.model_validate(status)
        except ValidationError as error:
            logger.warning(
                "policy status ignored: it does not validate", extra={"policy": name, "error": str(error)}
            )

    async def _write_policy_status(self, entry: PolicyEntry) -> None:
        matched = sum(1 for pod in self._pods.values() if entry.policy and entry.policy.selects(pod))
        open_reports = sum(
            1
            for report in self._reports.values()
            if report.metadata.labels.get(LABEL_POLICY) == entry.name and phase_of(report) in OPEN_PHASES
        )
        previous = self._policy_status.get(entry.name)
        readiness = entry.readiness
        wanted = DebugPolicyStatus(
            observed_generation=entry.generation,
            matched_pods=matched,
            open_reports=open_reports,
            conditions=with_condition(
                previous.conditions if previous else None,
                "Ready",
                readiness.ready,
                readiness.reason,
                readiness.message,
                now=self.clock(),
            ),
        )
        if wanted == previous:
            return
        try:
            await self.writer.patch_policy_status(entry.name, wanted)
        except ClusterError as error:
            logger.warning("policy status not written", extra={"policy": entry.name, "error": str(error)})
            return
        self._policy_status[entry.name] = wanted

    # --- pods -----------------------------------------------------------------------------------

    async def on_pod(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = _key(body)
        if handle := self._due.pop(key, None):
            handle.cancel()
        if event_type == "DELETED":
            self._pods.pop(key, None)
            self._workloads.pop(body["metadata"].get("uid", ""), None)  # a bare pod's entry
            return
        pod = self._pods[key] = _slim(body)
        await self._evaluate(pod)

    async def _evaluate(self, pod: dict[str, Any]) -> None:
        now = self.clock()
        due_at: datetime | None = None
        for policy in self.policies.matching(pod):
            verdict = evaluate(pod, policy.triggers, pending_grace=policy.pending_grace, now=now)
            if verdict.detection is None:
                if verdict.due_at is not None:
                    due_at = min(due_at or verdict.due_at, verdict.due_at)
                continue
            workload = await self._workload(pod)
            problem = Problem(pod["metadata"]["namespace"], workload, verdict.detection.trigger)
            opening = await self.opener.open(problem, pod, policy, verdict.detection)
            if opening.retry_at is not None:
                self._recheck_at(pod, opening.retry_at)
            return
        if due_at is not None:
            self._recheck_at(pod, due_at)

    def _recheck_at(self, pod: dict[str, Any], due_at: datetime) -> None:
        """A Pending or not-Ready pod shows no new event when its grace period or its problem's cooldown
        ends; look again then."""
        key = _key(pod)
        if handle := self._due.pop(key, None):
            handle.cancel()
        delay = max(0.0, (due_at - self.clock()).total_seconds()) + 0.5
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._due.pop(key, None)
            if (current := self._pods.get(key)) is not None:
                task = loop.create_task(self._evaluate(current))
                self._rechecks.add(task)
                task.add_done_callback(self._recheck_done)

        self._due[key] = loop.call_later(delay, fire)

    def _recheck_done(self, task: asyncio.Task[None]) -> None:
        self._rechecks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("re-evaluating a pending pod failed", exc_info=error)

    async def _workload(self, pod: Mapping[str, Any]) -> Workload:
        owner = controller_ref(pod)
        key = (owner or {}).get("uid") or pod["metadata"].get("uid", "")
        task = self._workloads.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._workloads[key] = asyncio.ensure_future(self._resolve_workload(dict(pod)))
        return await asyncio.shield(task)

    async def _resolve_workload(self, pod: dict[str, Any]) -> Workload:
        chain = await owner_chain(self.writer, pod)
        return Workload.of(chain[-1])

    # --- reports --------------------------------------------------------------------------------

    async def on_report(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = _key(body)
        try:
            report = ObservedReport.model_validate(body)
        except ValidationError as error:  # the API server enforces spec and metadata; never seen
            logger.error(
                "report ignored: it does not validate",
                extra={"report": key[1], "namespace": key[0], "error": str(error)},
            )
            return
        if event_type == "DELETED":
            self._reports.pop(key, None)
            self.opener.observe(report, deleted=True)
            self.notifier.observe(report, deleted=True)
            await self._reevaluate_pod_of(report)
            return
        previous = self._reports.get(key)
        closed = False
        if previous is not None and phase_of(previous) != (phase := phase_of(report)):
            self.metrics.report_transitions.labels(phase=str(phase), trigger=str(report.spec.trigger)).inc()
            closed = phase in CLOSED_PHASES
        self._reports[key] = report
        self.opener.observe(report)
        self.notifier.observe(report)
        self._dispatch(report)
        if closed:
            await self._reevaluate_pod_of(report)

    async def _reevaluate_pod_of(self, report: ObservedReport) -> None:
        """A report closed or went away: its pod, if still failing, is due for the next one (after
        the cooldown), and a Pending pod sends no event that would say so."""
        pod = self._pods.get((report.metadata.namespace or "", report.spec.pod_ref.name))
        if pod is not None:
            await self._evaluate(pod)

    def _dispatch(self, report: ObservedReport) -> None:
        """Start the one task this report needs now, unless one is already running for it."""
        key = _report_key(report)
        running = self._tasks.get(key)
        if running is not None and not running.done():
            return
        if self._work_for(report) is None:
            return
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(self._work_on_fresh(key))
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._after(key, done))

    async def _work_on_fresh(self, key: ObjectKey) -> None:
        """Act on the report as it is now: a watch event can be older than our own last write."""
        report = await self.writer.read_report(*key)
        if report is not None and (work := self._work_for(report)) is not None:
            await work()

    def _after(self, key: ObjectKey, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if task.cancelled():
            return
        delay = 0.0
        if (error := task.exception()) is not None:
            delay = self.settings.retry_seconds
            logger.error(
                "report task failed; retrying", exc_info=error, extra={"report": key[1], "retry_in_s": delay}
            )
        # A decision may have arrived while the task ran.
        asyncio.get_running_loop().call_later(delay, self._dispatch_latest, key)

    def _dispatch_latest(self, key: ObjectKey) -> None:
        if (latest := self._reports.get(key)) is not None:
            self._dispatch(latest)

    def _work_for(self, report: ObservedReport) -> Callable[[], Awaitable[Any]] | None:
        """What the report needs done now, if anything."""
        phase = phase_of(report)
        policy = self.policies.get(report.spec.policy_ref.name)
        if phase in (Phase.PENDING, Phase.ANALYZING):
            return self._analysis_for(report, policy)
        # Notified is written here, among the report's other status writes, so none clobbers another.
        if (conditions := self.notifier.conditions_for(report, now=self.clock())) is not None:
            update = DiagnosticReportStatus(conditions=conditions)
            return functools.partial(self.writer.patch_report_status, report, update)
        # Judged once per look at the report, and the verdict handed on: the approver acts on exactly it.
        if (verdict := judge(report, key=self.seal_key, policy=policy)) is not None:
            return functools.partial(self.approver.handle, report, verdict, now=self.clock())
        if (target := _unverified(report)) is not None:
            return functools.partial(self._verify, report, target)
        return None

    def _analysis_for(
        self, report: ObservedReport, policy: ActivePolicy | None
    ) -> Callable[[], Awaitable[Any]] | None:
        """Analyse under a Ready policy; under none, say why on the report.

        The condition is written only when it would change: each write comes back as a watch event
        that dispatches the report again.
        """
        if policy is not None:
            return functools.partial(self._analyse, report, policy)
        name = report.spec.policy_ref.name
        readiness = self.policies.readiness(name)
        if readiness.reason == REASON_NOT_FOUND and (wait := self._policy_listing_left()) > 0:
            return functools.partial(asyncio.sleep, wait)  # then the report is looked at again
        conditions = with_condition(
            report.status.conditions,
            CONDITION_POLICY_READY,
            False,
            readiness.reason,
            f"DebugPolicy {name!r} is not Ready: {readiness.message.rstrip('.')}. "
            "This report is analysed once it is.",
            now=self.clock(),
        )
        if condition_of(report, CONDITION_POLICY_READY) == conditions[-1]:
            return None
        return functools.partial(self._show_policy_not_ready, report, conditions)

    def _policy_listing_left(self) -> float:
        """Seconds in which a policy not seen yet may still arrive with the policy watch's first listing."""
        return self._started + self.settings.policy_listing_seconds - time.monotonic()

    async def _show_policy_not_ready(self, report: ObservedReport, conditions: list[Condition]) -> None:
        shown = conditions[-1]
        logger.warning(
            "report not analysed: its policy is not Ready",
            extra={
                "report": report.metadata.name,
                "namespace": report.metadata.namespace,
                "policy": report.spec.policy_ref.name,
                "reason": shown.reason,
            },
        )
        await self.writer.patch_report_status(report, DiagnosticReportStatus(conditions=conditions))

    async def _analyse(self, report: ObservedReport, policy: ActivePolicy) -> None:
        """Run the analysis; a report that showed its policy as not Ready first shows that it is now."""
        shown = condition_of(report, CONDITION_POLICY_READY)
        if shown is not None and shown.status is ConditionStatus.FALSE:
            readiness = self.policies.readiness(policy.name)
            conditions = with_condition(
                report.status.conditions,
                CONDITION_POLICY_READY,
                True,
                readiness.reason,
                f"DebugPolicy {policy.name!r} is Ready ({readiness.message}); analysing",
                now=self.clock(),
            )
            # The analyst writes its conditions onto this report: it must hold the one just written.
            report = await self.writer.patch_report_status(
                report, DiagnosticReportStatus(conditions=conditions)
            )
        await self.analyst.run(report, policy)

    async def _verify(self, report: ObservedReport, target: PatchTarget) -> None:
        outcome = await verify(
            self.writer,
            target,
            window=self.settings.verification_window,
            poll_seconds=self.settings.verification_poll_seconds,
        )
        now = self.clock()
        self.metrics.verification_outcomes.labels(outcome=str(outcome.result)).inc()
        verified = outcome.result is VerificationResult.VERIFIED
        conditions = with_condition(
            report.status.conditions,
            CONDITION_VERIFIED,
            verified,
            str(outcome.result),
            outcome.message,
            now=now,
        )
        verification = Verification(
            result=outcome.result, message=outcome.message[:1024], checked_at=timestamp(now)
        )
        await self.writer.patch_report_status(
            report, DiagnosticReportStatus(conditions=conditions, verification=verification)
        )
        event = kopf.info if verified else kopf.warn
        event(event_target(report), reason=str(outcome.result), message=outcome.message[:1024])

    # --- housekeeping ---------------------------------------------------------------------------

    async def housekeeping(self) -> None:
        """Forever: policy status, report gauges, audit records of closed reports, retention clean-up,
        and a second look at every failing pod."""
        while True:
            try:
                await self._housekeep_once()
            except Exception:  # housekeeping must outlive a failed round
                logger.exception("housekeeping round failed")
            await asyncio.sleep(self.settings.housekeeping_seconds)

    async def _housekeep_once(self) -> None:
        for entry in list(self.policies.entries.values()):
            await self._write_policy_status(entry)
        counts = Counter((str(phase_of(r)), str(r.spec.trigger)) for r in self._reports.values())
        self.metrics.reports_by_phase.clear()
        for (phase, trigger), count in counts.items():
            self.metrics.reports_by_phase.labels(phase=phase, trigger=trigger).set(count)
        now = self.clock()
        waiting = [
            since
            for report in self._reports.values()
            if phase_of(report) is Phase.AWAITING_APPROVAL and (since := _awaiting_since(report))
        ]
        self.metrics.awaiting_approval_oldest.set(
            max(((now - since).total_seconds() for since in waiting), default=0.0)
        )
        for key, report in list(self._reports.items()):
            if key in self._tasks or phase_of(report) not in CLOSED_PHASES:
                continue
            policy = self.policies.get(report.spec.policy_ref.name)
            retention = policy.retention if policy else self.settings.default_retention
            cooldown = policy.cooldown if policy else timedelta(0)
            gone = expired(report, retention, now, cooldown=cooldown)
            # Recorded once settled (a fix's rollout verified), and never deleted before its record.
            if (gone or _unverified(report) is None) and not await self._recorded(report):
                continue
            if gone:
                logger.info("report expired; deleting", extra={"report": key[1], "namespace": key[0]})
                try:
                    await self.writer.delete_report(*key)
                except ClusterError as error:
                    if error.status != 404:
                        raise
        await self._look_again_at_pods()

    async def _look_again_at_pods(self) -> None:
        """The re-check timer is the fast path; this is the guarantee. A pod with no timer due is
        evaluated again, so a Pending pod whose timer was never set (its report closed while a watch
        was re-listing) or whose re-check failed still gets its next report once the cooldown ends."""
        for key, pod in list(self._pods.items()):
            if key in self._due or self._pods.get(key) is not pod:
                continue
            try:
                await self._evaluate(pod)
            except (ClusterError, OSError) as error:
                logger.warning(
                    "pod not re-evaluated; next housekeeping round tries again",
                    extra={"pod": key[1], "namespace": key[0], "error": str(error)},
                )

    async def _recorded(self, report: ObservedReport) -> bool:
        """Whether the report's current state is in the audit trail, recording it now if not."""
        if not self.audit.due(report):
            return True
        try:
            await self.audit.record(report)
        except AuditError as error:
            logger.error(
                "audit record not written; the report is kept",
                extra={
                    "report": report.metadata.name,
                    "namespace": report.metadata.namespace,
                    "error": str(error),
                },
            )
            return False
        return True
