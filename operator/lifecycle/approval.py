"""Human decisions on a report: apply the approved patch, reject, or roll back, and nothing else.

The only writes smart-sre ever makes to a workload happen here, and only when `spec.approval` pins
the sha256 of exactly the patch the report shows. The patch carries `test` guards on every value it
changes, so a target that moved since the analysis makes it fail (Stale) instead of clobbering a
newer change. Re-running after a crash is safe: a patch whose effect is already on the target is
recorded as applied, not sent twice.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonpatch
import jsonpointer
import kopf

from smart_sre.api.common import Phase
from smart_sre.api.diagnosticreport import ApprovalAction, Decision
from smart_sre.k8s.cluster import KINDS, ClusterError
from smart_sre.k8s.writer import ClusterWriter
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.reports import (
    check_transition,
    condition_of,
    phase_of,
    rfc3339,
    with_condition,
)

logger = logging.getLogger(__name__)

CONDITION_REFUSED = "ApprovalRefused"
CONDITION_APPLIED = "PatchApplied"
CONDITION_ROLLED_BACK = "RolledBack"


@dataclass(frozen=True)
class Refuse:
    """The decision cannot be acted on; the report says why on its ApprovalRefused condition."""

    reason: str
    message: str


@dataclass(frozen=True)
class Reject:
    pass


@dataclass(frozen=True)
class Apply:
    """Apply `operations` to `target`: the suggested patch, or the stored inverse for a rollback."""

    action: ApprovalAction
    operations: list[dict[str, Any]]
    target: Mapping[str, Any]
    sha256: str


Verdict = Refuse | Reject | Apply | None

# Phases in which `spec.approval` means something (FindingsOnly: only to say there is nothing to approve).
_DECIDABLE = frozenset({Phase.AWAITING_APPROVAL, Phase.FINDINGS_ONLY, Phase.APPLYING, Phase.APPLIED})


def _approval(report: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return (report.get("spec") or {}).get("approval")


def judge(report: Mapping[str, Any]) -> Verdict:
    """What the report's `spec.approval` asks for in its current phase; None when nothing is due."""
    approval = _approval(report)
    phase = phase_of(report)
    if not approval or phase not in _DECIDABLE:
        return None
    status = report.get("status") or {}
    action = ApprovalAction(approval.get("action") or ApprovalAction.APPLY)
    decision = Decision(approval["decision"])
    if phase is Phase.FINDINGS_ONLY:
        if decision is Decision.REJECTED:
            return None  # already closed; rejecting it changes nothing
        return Refuse(
            "NoPatch",
            f"this report ended with findings only ({status.get('noPatchReason') or 'no patch was found'}); "
            "there is no patch to approve",
        )
    if phase is Phase.APPLIED and (
        action is ApprovalAction.APPLY or condition_of(report, CONDITION_ROLLED_BACK)
    ):
        return None  # already acted upon
    if decision is Decision.REJECTED:
        return Reject() if phase is Phase.AWAITING_APPROVAL else None
    if action is ApprovalAction.ROLLBACK and phase is Phase.AWAITING_APPROVAL:
        return Refuse(
            "NothingToRollBack", "no patch was applied yet; approve the suggested patch with action Apply"
        )
    patch = status.get("rollbackPatch") if action is ApprovalAction.ROLLBACK else status.get("suggestedPatch")
    if not patch:
        what = "rollback patch" if action is ApprovalAction.ROLLBACK else "suggested patch"
        reason = status.get("noPatchReason") or "the analysis produced none"
        return Refuse("NoPatch", f"this report has no {what} to apply ({reason}); reject it to close it")
    pinned = approval.get("patchSHA256")
    if pinned != patch["sha256"]:
        return Refuse(
            "PatchSHA256Mismatch",
            f"the approval pins patchSHA256 {pinned} but the {action.value.lower()} patch is {patch['sha256']}; "
            f"review it with `kubectl sre show {report['metadata']['name']}` and approve again",
        )
    target = (status.get("suggestedPatch") or {}).get("target")
    if not target:
        return Refuse("NoTarget", "the suggested patch names no target object")
    return Apply(action, list(patch["operations"]), target, patch["sha256"])


def approved_by(report: Mapping[str, Any]) -> str | None:
    """The field manager that last wrote `spec.approval` (kubectl-patch, kubectl-sre, ...), when recorded."""
    latest: tuple[str, str] | None = None
    for entry in (report.get("metadata") or {}).get("managedFields") or ():
        fields = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if "f:approval" in fields and entry.get("manager"):
            stamp = entry.get("time") or ""
            if latest is None or stamp >= latest[0]:
                latest = (stamp, entry["manager"])
    return latest[1] if latest else None


def already_applied(live: Mapping[str, Any], operations: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the patch's changes are all present on `live` (a restart after a successful apply)."""
    changes = [dict(operation) for operation in operations if operation.get("op") != "test"]
    try:
        patched = jsonpatch.apply_patch(copy.deepcopy(dict(live)), changes)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        return False
    return patched == live


def guard_failure(live: Mapping[str, Any], operations: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the guarded patch would not apply to `live`, or None when it applies cleanly."""
    try:
        jsonpatch.apply_patch(copy.deepcopy(dict(live)), [dict(operation) for operation in operations])
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        return str(error)
    return None


class Approver:
    """Acts on verdicts; one call per report at a time (the controller guarantees it)."""

    def __init__(self, writer: ClusterWriter, metrics: Metrics) -> None:
        self._writer = writer
        self._metrics = metrics

    async def _status(self, report: Mapping[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        metadata = report["metadata"]
        return await self._writer.patch_report_status(metadata["namespace"], metadata["name"], status)

    async def handle(self, report: Mapping[str, Any], *, now: datetime) -> dict[str, Any] | None:
        """Act on the report's decision; returns the updated report when something changed."""
        verdict = judge(report)
        conditions = (report.get("status") or {}).get("conditions")
        name = report["metadata"]["name"]
        match verdict:
            case None:
                return None
            case Refuse(reason=reason, message=message):
                current = condition_of(report, CONDITION_REFUSED)
                if current and current.get("reason") == reason and current.get("message") == message:
                    return None  # already said so; do not loop on our own status write
                self._metrics.approvals_refused.labels(reason=reason).inc()
                logger.warning("approval refused", extra={"report": name, "reason": reason})
                kopf.warn(dict(report), reason="ApprovalRefused", message=message)
                return await self._status(
                    report,
                    {
                        "conditions": with_condition(
                            conditions, CONDITION_REFUSED, True, reason, message, now=now
                        )
                    },
                )
            case Reject():
                check_transition(phase_of(report), Phase.REJECTED)
                self._metrics.rejections.inc()
                who = approved_by(report)
                kopf.info(dict(report), reason="Rejected", message=f"rejected by {who or 'a human'}")
                timings = {**((report.get("status") or {}).get("timings") or {}), "finishedAt": rfc3339(now)}
                return await self._status(
                    report, {"phase": Phase.REJECTED, "approvedBy": who, "timings": timings}
                )
            case Apply():
                return await self._apply(report, verdict, now=now)
        return None

    async def _apply(self, report: Mapping[str, Any], verdict: Apply, *, now: datetime) -> dict[str, Any]:
        status = report.get("status") or {}
        conditions = status.get("conditions")
        rollback = verdict.action is ApprovalAction.ROLLBACK
        kind_label = verdict.action.value
        if phase_of(report) is not Phase.APPLYING:
            check_transition(phase_of(report), Phase.APPLYING)
            self._metrics.approvals.labels(kind=kind_label).inc()
            who = approved_by(report)
            conditions = with_condition(
                conditions,
                CONDITION_REFUSED,
                False,
                "Approved",
                f"{kind_label} approved by {who or 'a human'}",
                now=now,
            )
            report = await self._status(
                report, {"phase": Phase.APPLYING, "approvedBy": who, "conditions": conditions}
            )
        started = time.monotonic()
        outcome, message = await self._patch_target(verdict)
        phase = {"Applied": Phase.APPLIED, "Stale": Phase.STALE}.get(outcome, Phase.FAILED)
        self._metrics.patch_outcomes.labels(kind=kind_label, outcome=outcome).inc()
        timings = dict(status.get("timings") or {})
        timings["applyMs"] = int((time.monotonic() - started) * 1000)
        if phase is not Phase.APPLIED or not rollback:
            timings["finishedAt"] = rfc3339(now)
        condition_type = CONDITION_ROLLED_BACK if rollback else CONDITION_APPLIED
        conditions = with_condition(
            (report.get("status") or {}).get("conditions"),
            condition_type,
            phase is Phase.APPLIED,
            outcome,
            message,
            now=now,
        )
        update: dict[str, Any] = {"phase": phase, "conditions": conditions, "timings": timings}
        if rollback:
            update["verification"] = None  # the rollout is verified afresh
        event = kopf.info if phase is Phase.APPLIED else kopf.warn
        event(dict(report), reason=f"{kind_label}{outcome}", message=message)
        logger.info("patch outcome", extra={"report": report["metadata"]["name"], "outcome": outcome})
        return await self._status(report, update)

    async def _patch_target(self, verdict: Apply) -> tuple[str, str]:
        """('Applied' | 'Stale' | 'Failed', message) for one guarded patch."""
        target = verdict.target
        kind, namespace, name = target["kind"], target.get("namespace"), target["name"]
        where = f"{kind}/{name}"
        if kind not in KINDS:
            return "Failed", f"smart-sre cannot patch objects of kind {kind}"
        live = await self._writer.get(kind, namespace, name)
        if live is None:
            return "Stale", f"{where} no longer exists"
        if target.get("uid") and live["metadata"].get("uid") != target["uid"]:
            return "Stale", f"{where} was deleted and re-created since the analysis"
        if already_applied(live, verdict.operations):
            return "Applied", f"{where} already carries the patch (sha256 {verdict.sha256[:12]})"
        if failure := guard_failure(live, verdict.operations):
            return (
                "Stale",
                f"{where} changed since the analysis and the guarded patch no longer applies: {failure}",
            )
        try:
            await self._writer.apply_json_patch(kind, namespace, name, verdict.operations)
        except ClusterError as error:
            live = await self._writer.get(kind, namespace, name)
            if live is not None and guard_failure(live, verdict.operations):
                return "Stale", f"{where} changed while the patch was being applied: {error}"
            return "Failed", f"the API server refused the patch to {where}: {error}"
        return "Applied", f"patched {where} (sha256 {verdict.sha256[:12]})"
