"""One JSON record per closed report, written before retention may delete the report.

Reports are deleted after their policy's `reportRetention`; what was found, on which evidence, what
was changed, who approved it and when, and whether the fix worked must outlive them. When a report
closes and nothing more is due for it (a fix's verification included), the controller has it
recorded here:

- as one line of JSON on the logger `smart_sre.audit` (INFO), for the cluster's log shipping;
- and, with `SMART_SRE_AUDIT_FILE`, appended to a JSON-lines file (e.g. on a PersistentVolume):
  opened for appending for each record, never truncated, fsynced before the record counts as written.

Then the report is marked (annotations `smartsre.io/audit-recorded-at` and `smartsre.io/audit-record`:
the record's digest and an HMAC over it with the operator's seal key, so that nobody else can mark a
report recorded). Retention deletes a report only once its current state is so marked, and records it
first when it is not. A report that changes after its record (a rollback) is recorded again; the
record's `digest` is the sha256 of its canonical JSON without `recordedAt` and `digest`, so the same
state gives the same digest and a consumer can drop the rare duplicate (the operator died between
writing a record and marking the report).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from smart_sre.api.common import ApiModel, Condition, Phase, Sha256, Trigger
from smart_sre.api.diagnosticreport import (
    Approval,
    ApproverEntry,
    Findings,
    ModelRef,
    ObservedReport,
    Patch,
    PodRef,
    ReasoningStep,
    SuggestedPatch,
    Timings,
    Verification,
    WorkloadRef,
    canonical_json,
)
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.writer import FIELD_MANAGER, ClusterWriter
from smart_sre.lifecycle.approval import SealKey, approved_at
from smart_sre.lifecycle.notifications import CONDITION_NOTIFIED
from smart_sre.lifecycle.reports import phase_of, timestamp

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("smart_sre.audit")

ANNOTATION_RECORDED_AT = "smartsre.io/audit-recorded-at"
ANNOTATION_RECORD = "smartsre.io/audit-record"
# How many reports the trail remembers (records written, reports seen marked); after a restart the
# annotations say what was recorded.
_REMEMBERED = 4096


class AuditError(RuntimeError):
    """A record could not be written or the report not marked; the message says where and why."""


class ReportIdentity(ApiModel):
    namespace: str
    name: str
    uid: str
    created_at: datetime | None = None


class DecisionTimes(ApiModel):
    """When each step happened: opened, patch shown, approved (the API server's record of the
    approval write), closed, rollout checked."""

    opened_at: datetime | None = None
    suggested_at: datetime | None = None
    approved_at: datetime | None = None
    finished_at: datetime | None = None
    verified_at: datetime | None = None


class AuditRecord(ApiModel):
    """A closed report as the audit keeps it: the report's own typed parts, nothing re-worded.

    `evidenceDigest` is the sha256 of the reasoning chain's observations (a JSON array of strings,
    canonical: sorted keys, no spaces, UTF-8), what the model and the human saw. `recordedAt` and
    `digest` are set last: `digest` covers everything else.
    """

    api_version: Literal["smartsre.io/v1alpha1"] = "smartsre.io/v1alpha1"
    kind: Literal["DiagnosticReportAuditRecord"] = "DiagnosticReportAuditRecord"
    recorded_at: datetime | None = None
    digest: Sha256 | None = None
    report: ReportIdentity
    policy: str
    trigger: Trigger
    pod: PodRef
    workload: WorkloadRef
    phase: Phase
    findings: Findings | None = None
    evidence_digest: Sha256 | None = None
    reasoning_chain: list[ReasoningStep] = Field(default_factory=list)
    suggested_patch: SuggestedPatch | None = None
    rollback_patch: Patch | None = None
    no_patch_reason: str | None = None
    approval: Approval | None = None
    approvals: list[ApproverEntry] = Field(
        default_factory=list
    )  # further approvers, when several are required
    approved_by: str | None = None  # status.approvedBy: whom the operator acted for
    times: DecisionTimes
    timings: Timings | None = None
    verification: Verification | None = None
    model: ModelRef | None = None
    conditions: list[Condition] = Field(default_factory=list)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def record_of(report: ObservedReport) -> AuditRecord:
    """The report's record without `recordedAt`, with its `digest`."""
    metadata, spec, status = report.metadata, report.spec, report.status
    chain = list(status.reasoning_chain or ())
    draft = AuditRecord(
        report=ReportIdentity(
            namespace=metadata.namespace or "",
            name=metadata.name,
            uid=metadata.uid or "",
            created_at=metadata.creation_timestamp,
        ),
        policy=spec.policy_ref.name,
        trigger=spec.trigger,
        pod=spec.pod_ref,
        workload=spec.workload_ref,
        phase=phase_of(report),
        findings=status.findings,
        evidence_digest=_sha256(canonical_json([step.observation for step in chain])) if chain else None,
        reasoning_chain=chain,
        suggested_patch=status.suggested_patch,
        rollback_patch=status.rollback_patch,
        no_patch_reason=status.no_patch_reason,
        approval=spec.approval,
        approvals=list(spec.approvals or ()),
        approved_by=status.approved_by,
        times=DecisionTimes(
            opened_at=metadata.creation_timestamp,
            suggested_at=status.suggested_at,
            approved_at=approved_at(report),
            finished_at=status.timings.finished_at if status.timings else None,
            verified_at=status.verification.checked_at if status.verification else None,
        ),
        timings=status.timings,
        verification=status.verification,
        model=status.model,
        # Notified changes after the report closed, and says nothing about the decision.
        conditions=[c for c in status.conditions or () if c.type != CONDITION_NOTIFIED],
    )
    digest = _sha256(canonical_json(draft.model_dump(mode="json", by_alias=True, exclude_none=True)))
    return draft.model_copy(update={"digest": digest})


def line_of(record: AuditRecord) -> str:
    """The record on one line of ASCII: JSON escapes every control character, line separator and
    non-ASCII character, so hostile text from pod logs can neither split a record nor fake one."""
    return json.dumps(
        record.model_dump(mode="json", by_alias=True, exclude_none=True),
        ensure_ascii=True,
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class AuditFile:
    """An append-only JSON-lines file.

    Opened for appending for each record (a log shipper may rotate it meanwhile) and never truncated;
    a record counts as written once fsynced. A line left torn by a crash stays as it is and the next
    record starts on a line of its own.
    """

    path: Path

    def append(self, line: str) -> None:
        created = not self.path.exists()
        descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            data = line.encode("ascii") + b"\n"
            size = os.fstat(descriptor).st_size
            if size and os.pread(descriptor, 1, size - 1) != b"\n":
                data = b"\n" + data
            while data:
                data = data[os.write(descriptor, data) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if created:  # the new name must survive a crash too
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)


class AuditTrail:
    """Records closed reports and says which are recorded; one record at a time."""

    def __init__(
        self,
        writer: ClusterWriter,
        *,
        seal_key: SealKey,
        file: AuditFile | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._writer = writer
        self._key = seal_key
        self._file = file
        self._clock = clock
        self._lock = asyncio.Lock()
        # (uid, digest) -> when written: a failed mark is retried without a second record.
        self._written: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        # uid -> the resourceVersion seen marked: housekeeping asks about every closed report each round.
        self._marked_versions: OrderedDict[str, str] = OrderedDict()

    def due(self, report: ObservedReport) -> bool:
        """Whether the report's current state has no record the operator marked."""
        uid, version = report.metadata.uid or "", report.metadata.resource_version
        if version is not None and self._marked_versions.get(uid) == version:
            return False
        if not self._marked(report, record_of(report).digest or ""):
            return True
        if version is not None:
            _remember(self._marked_versions, uid, version)
        return False

    async def record(self, report: ObservedReport) -> None:
        """Write the report's record to every sink, then mark the report; raises `AuditError`."""
        async with self._lock:
            record = record_of(report)
            digest, uid = record.digest or "", report.metadata.uid or ""
            if self._marked(report, digest):
                return
            recorded_at = self._written.get((uid, digest))
            if recorded_at is None:
                recorded_at = timestamp(self._clock())
                await self._write(report, record.model_copy(update={"recorded_at": recorded_at}))
                _remember(self._written, (uid, digest), recorded_at)
            await self._mark(report, digest, recorded_at)

    async def _write(self, report: ObservedReport, record: AuditRecord) -> None:
        line = line_of(record)
        if self._file is not None:
            try:
                await asyncio.to_thread(self._file.append, line)
            except OSError as error:
                raise AuditError(
                    f"the audit record of report {report.metadata.namespace}/{report.metadata.name} could not "
                    f"be appended to {self._file.path} ({error.strerror or error}); the report is kept until "
                    "it is. Check the volume behind SMART_SRE_AUDIT_FILE (mounted, writable, not full)"
                ) from error
        audit_logger.info("%s", line)

    async def _mark(self, report: ObservedReport, digest: str, recorded_at: datetime) -> None:
        at = recorded_at.isoformat().replace("+00:00", "Z")
        annotations = {ANNOTATION_RECORDED_AT: at, ANNOTATION_RECORD: self._mark_value(report, digest, at)}
        try:
            await self._writer.patch_report(
                report.metadata.namespace or "",
                report.metadata.name,
                {"metadata": {"annotations": annotations}},
                field_manager=FIELD_MANAGER,
            )
        except ClusterError as error:
            if error.status == 404:
                return  # gone already; its record is written
            raise AuditError(
                f"report {report.metadata.namespace}/{report.metadata.name} was recorded but could not be "
                f"marked ({error}); retention keeps it until it is"
            ) from error

    def _mark_value(self, report: ObservedReport, digest: str, recorded_at: str) -> str:
        document = {"report": report.metadata.uid or "", "digest": digest, "recordedAt": recorded_at}
        seal = hmac.new(self._key.secret, canonical_json(document).encode(), hashlib.sha256).hexdigest()
        return f"sha256={digest},seal={seal}"

    def _marked(self, report: ObservedReport, digest: str) -> bool:
        annotations = report.metadata.annotations
        recorded_at, mark = annotations.get(ANNOTATION_RECORDED_AT), annotations.get(ANNOTATION_RECORD)
        if not recorded_at or not mark:
            return False
        return hmac.compare_digest(mark, self._mark_value(report, digest, recorded_at))


def _remember(memory: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    memory[key] = value
    while len(memory) > _REMEMBERED:
        memory.popitem(last=False)
