"""Human decisions on a report: apply the approved patch, reject, or roll back, and nothing else.

The controller judges each report once per event (`judge`) and hands the verdict to `Approver.handle`;
the analysis seals every suggestion it publishes (`SealKey.publish`). The only writes smart-sre ever
makes to a workload happen here, and every field of a report (status included) may have been
written by someone else, so at apply time the operator proves everything again:

- the suggestion carries the operator's seal, an HMAC over the report's uid, the suggested and the
  rollback patch and `suggestedAt`, with a key only the operator holds: a suggestion anyone else
  wrote or changed fails the report (`SuggestionTampered`); its target is in the report's namespace;
- `spec.approval` pins the sha256 recomputed over the target and the operations, and was written
  after the suggestion was shown;
- the approver it names (`approvedBy`, which deploy/base/approval-admission-policy.yaml admits only
  from that very user, with `approverGroups` they are in) may patch the target themselves, as a
  SubjectAccessReview says (smart_sre.k8s.access): approving must not lend the operator's rights to
  someone without them;
- a policy may want several approvers (`remediation.requiredApprovals`): the entries of
  `spec.approvals` (one per user, each admitted only from its user) and `spec.approval` are each
  checked as above, and the patch is applied once that many different users who may patch the target
  pinned it; until then the report waits, its Approvals condition saying who counted and who did not;
- the target is in the failing pod's owner chain, followed by uid, and the patch passes the policy's
  safety checks again, with a fresh server-side dry run.

Once a fix is applied to a workload whose controller will not replace a pod stuck on the old template
(a StatefulSet with OrderedReady or OnDelete, a DaemonSet with OnDelete), the pods it leaves stuck are
deleted (smart_sre.k8s.stuck_pods), chosen from the live cluster once the controller observed the patch,
and only when the sealed suggestion said so before approval (`suggestedPatch.deletesStuckPods`); the
PatchApplied condition and the event name them.

The patch carries `test` guards on every value it changes, so a target that moved since the analysis
makes it fail (Stale) instead of clobbering a newer change; that makes it safe to resend, so an API
server that fails (5xx, 429, unreachable) is retried a few times. Re-running after a crash is safe:
a patch whose effect is already on the target is recorded as applied, not sent twice.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import jsonpatch
import jsonpointer
import kopf

from smart_sre.api.common import Phase
from smart_sre.api.debugpolicy import GitOpsManaged
from smart_sre.api.diagnosticreport import (
    Approval,
    ApprovalAction,
    Decision,
    DiagnosticReport,
    DiagnosticReportStatus,
    ObservedReport,
    Patch,
    PatchOp,
    PatchOperation,
    PatchTarget,
    PodRef,
    StuckPodDeletion,
    SuggestedPatch,
    Timings,
    canonical_json,
    patch_sha256,
)
from smart_sre.investigation.patch_safety import PatchRejected, vet_patch
from smart_sre.k8s.access import may_patch
from smart_sre.k8s.cluster import KINDS, Cluster, ClusterError
from smart_sre.k8s.gitops import managed, refusal
from smart_sre.k8s.owners import owner_chain
from smart_sre.k8s.stuck_pods import Replacement, replace_stuck
from smart_sre.k8s.writer import ClusterWriter
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import ActivePolicy
from smart_sre.lifecycle.reports import (
    check_transition,
    condition_of,
    event_target,
    phase_of,
    timestamp,
    with_condition,
)

T = TypeVar("T")
logger = logging.getLogger(__name__)

CONDITION_REFUSED = "ApprovalRefused"
CONDITION_APPLIED = "PatchApplied"
CONDITION_ROLLED_BACK = "RolledBack"
CONDITION_APPROVALS = "Approvals"

# A shorter key would make the seal guessable; `SealKey.load` writes 64 random hex characters.
MIN_SEAL_KEY_BYTES = 32
# Waits between attempts of a workload PATCH the API server failed (5xx, 429, unreachable).
APPLY_RETRY_DELAYS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class SealKey:
    """The operator's secret for sealing the suggestions it publishes; never logged, never in a report."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SEAL_KEY_BYTES:
            raise ValueError(f"the seal key must be at least {MIN_SEAL_KEY_BYTES} bytes long")

    @classmethod
    def load(cls, path: Path) -> SealKey:
        """The key in `path`; a missing file is created with a fresh random key only its owner can read.

        Mount a Secret there to keep the key across pods: suggestions sealed with a key the operator
        no longer holds are refused.
        """
        try:
            return cls(path.read_bytes().strip())
        except FileNotFoundError:
            return cls(_create_key_file(path))

    def _seal(self, report_uid: str, status: DiagnosticReportStatus) -> str | None:
        suggested, shown = status.suggested_patch, status.suggested_at
        if suggested is None or shown is None:
            return None
        rollback = status.rollback_patch
        document = {
            "report": report_uid,
            "suggestedAt": int(timestamp(shown).timestamp()),
            "suggestedPatch": suggested.model_dump(
                mode="json", by_alias=True, exclude_none=True, exclude={"seal"}
            ),
            "rollbackPatch": rollback.model_dump(mode="json", by_alias=True, exclude_none=True)
            if rollback is not None
            else None,
        }
        return hmac.new(self.secret, canonical_json(document).encode(), hashlib.sha256).hexdigest()

    def publish(
        self, report: DiagnosticReport, status: DiagnosticReportStatus, *, now: datetime
    ) -> DiagnosticReportStatus:
        """`status` as the operator writes it: a suggestion in it gets `suggestedAt` and the seal."""
        if status.suggested_patch is None:
            return status
        shown = status.model_copy(update={"suggested_at": timestamp(now)})
        seal = self._seal(report.metadata.uid or "", shown)
        return shown.model_copy(
            update={"suggested_patch": status.suggested_patch.model_copy(update={"seal": seal})}
        )

    def sealed(self, report: DiagnosticReport) -> bool:
        """Whether the report's suggestion is exactly one this operator published for this report."""
        status = report.status
        stored = status.suggested_patch.seal if status and status.suggested_patch else None
        expected = self._seal(report.metadata.uid or "", status) if status else None
        return stored is not None and expected is not None and hmac.compare_digest(stored, expected)


def _create_key_file(path: Path) -> bytes:
    """Write a random key to `path` atomically; when another process got there first, use its key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_hex(MIN_SEAL_KEY_BYTES).encode()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".seal-key-")  # mode 0600
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(secret)
        os.link(temporary, path)
    except FileExistsError:
        return path.read_bytes().strip()
    finally:
        os.unlink(temporary)
    logger.info("seal key created", extra={"path": str(path)})
    return secret


@dataclass(frozen=True)
class Refuse:
    """The decision cannot be acted on; the report says why on its ApprovalRefused condition.

    `terminal`: the suggestion itself cannot be trusted, so the report fails rather than waits for
    another decision.
    """

    reason: str
    message: str
    terminal: bool = False


@dataclass(frozen=True)
class Reject:
    """Close the report: `by` (an approver, or the field manager that wrote the decision) rejected it."""

    by: str | None = None


@dataclass(frozen=True)
class Signer:
    """One approver of the patch: the user the admission policy admitted, with the groups they gave."""

    user: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Apply:
    """Apply `operations` to `target` (the suggested patch, or the stored inverse for a rollback),
    once the target is proven again against the failing pod and the policy, and `required` of
    `approvers` (each of whom pinned this sha256) are shown to be allowed to patch it themselves.
    `stuck`: the sealed suggestion said that approving also deletes the pods its controller leaves stuck."""

    action: ApprovalAction
    operations: list[PatchOperation]
    target: PatchTarget
    sha256: str
    pod: PodRef
    policy: ActivePolicy
    approvers: tuple[Signer, ...]
    required: int = 1
    stuck: StuckPodDeletion | None = None


Verdict = Refuse | Reject | Apply | None

# Phases in which `spec.approval` means something (FindingsOnly: only to say there is nothing to approve).
_DECIDABLE = frozenset({Phase.AWAITING_APPROVAL, Phase.FINDINGS_ONLY, Phase.APPLYING, Phase.APPLIED})
# A suggestion nobody can trust fails the report from these phases; an Applied one keeps its phase.
_FAILABLE = frozenset({Phase.AWAITING_APPROVAL, Phase.APPLYING})


def _clear_approval(name: str) -> str:
    return f"""kubectl patch dr {name} --type merge -p '{{"spec":{{"approval":null}}}}'"""


def _untrusted(report: ObservedReport, key: SealKey, suggested: SuggestedPatch) -> Refuse | None:
    """Why the suggestion cannot be what the operator published for this report, if it cannot."""
    name, namespace = report.metadata.name, report.metadata.namespace
    target = suggested.target
    aimed = f"{target.kind} {target.namespace}/{target.name}"
    if not key.sealed(report):
        return Refuse(
            "SuggestionTampered",
            f"the suggestion (a patch of {aimed}) is not the one smart-sre wrote for this report: its seal "
            "does not match, so the status was written or changed by someone else (or sealed with a key "
            "this operator does not hold). Nothing was applied; find who can write diagnosticreports/status, "
            f"then delete the report so the pod is analysed again",
            terminal=True,
        )
    if target.namespace != namespace:
        return Refuse(
            "TargetOutsideNamespace",
            f"the suggestion patches {aimed}, outside this report's namespace {namespace}; "
            f"smart-sre only patches objects in the failing pod's namespace. Nothing was applied; delete {name}",
            terminal=True,
        )
    return None


def decisions(report: DiagnosticReport) -> list[Approval]:
    """Every approver's decision: `spec.approval`, then the entries of `spec.approvals`.

    `spec.approval` counts as one more entry in its approvedBy's name; when that user also has an
    entry in the list, the entry is theirs to change, so it alone counts.
    """
    entries: list[Approval] = list(report.spec.approvals or ())
    single = report.spec.approval
    if single is None or (single.approved_by and any(e.approved_by == single.approved_by for e in entries)):
        return entries
    return [single, *entries]


def _field_of(report: DiagnosticReport, decision: Approval) -> str:
    """The field that holds `decision`, as a condition names it."""
    if decision is report.spec.approval:
        return "spec.approval"
    return f"{decision.approved_by}'s entry in spec.approvals"


def _predates(report: ObservedReport, decision: Approval) -> Refuse | None:
    """Why the decision cannot have been given after the suggestion was shown, if it cannot."""
    name = report.metadata.name
    where = _field_of(report, decision)
    approved, shown = written_at(report, decision), report.status.suggested_at
    again = (
        f"clear the approval ({_clear_approval(name)}) and approve again"
        if decision is report.spec.approval
        else f"remove that entry and approve again with `kubectl sre approve {name}`"
    )
    if approved is None or shown is None:
        return Refuse(
            "ApprovalUndated",
            f"the API server recorded no time for {where} (metadata.managedFields), so it cannot be "
            f"told from an approval written before the patch was shown: review it with `kubectl sre show {name}`, "
            f"{again}",
        )
    if approved < timestamp(shown):
        return Refuse(
            "ApprovalPredatesSuggestion",
            f"{where} was written at {approved.isoformat()}, before the patch was shown at "
            f"{timestamp(shown).isoformat()}; an approval counts only for a patch someone could read. Review it "
            f"with `kubectl sre show {name}`, {again}",
        )
    return None


def judge(report: ObservedReport, *, key: SealKey, policy: ActivePolicy | None) -> Verdict:
    """What the report's decisions (`decisions`) ask for in its current phase; None when nothing is due.

    `policy` is the report's DebugPolicy (None when it is not known): its remediation rules are
    checked again before anything is applied, and it says how many approvers a patch needs.
    """
    decided = decisions(report)
    phase = phase_of(report)
    if not decided or phase not in _DECIDABLE:
        return None
    status = report.status
    # Once the fix is applied, only a rollback is left to decide.
    rollback = any(decision.action is ApprovalAction.ROLLBACK for decision in decided)
    action = ApprovalAction.ROLLBACK if rollback else ApprovalAction.APPLY
    if phase is Phase.FINDINGS_ONLY:
        if all(decision.decision is Decision.REJECTED for decision in decided):
            return None  # already closed; rejecting it changes nothing
        return Refuse(
            "NoPatch",
            f"this report ended with findings only ({status.no_patch_reason or 'no patch was found'}); "
            "there is no patch to approve",
        )
    if phase is Phase.APPLIED and (not rollback or condition_of(report, CONDITION_ROLLED_BACK)):
        return None  # already acted upon
    asking = [decision for decision in decided if decision.action is action]
    if rejected := next((d for d in asking if d.decision is Decision.REJECTED), None):
        by = rejected.approved_by or approved_by(report)
        return Reject(by) if phase is Phase.AWAITING_APPROVAL else None
    if rollback and phase is Phase.AWAITING_APPROVAL:
        return Refuse(
            "NothingToRollBack", "no patch was applied yet; approve the suggested patch with action Apply"
        )
    suggested = status.suggested_patch
    patch: Patch | None = status.rollback_patch if rollback else suggested
    if suggested is None or patch is None:
        what = "rollback patch" if rollback else "suggested patch"
        reason = status.no_patch_reason or "the analysis produced none"
        return Refuse("NoPatch", f"this report has no {what} to apply ({reason}); reject it to close it")
    if untrusted := _untrusted(report, key, suggested):
        return untrusted
    digest = patch_sha256(patch.operations, suggested.target)
    for decision in asking:
        if refused := _unprovable(report, decision, digest):
            return refused
    if policy is None:
        return Refuse(
            "PolicyNotFound",
            f"policy {report.spec.policy_ref.name} is not known, so the patch cannot be checked against its "
            "remediation rules; nothing was applied. Restore the policy, or reject the report",
        )
    return Apply(
        action,
        list(patch.operations),
        suggested.target,
        digest,
        report.spec.pod_ref,
        policy,
        approvers=tuple(
            Signer(decision.approved_by or "", tuple(decision.approver_groups or ())) for decision in asking
        ),
        required=policy.spec.remediation.required_approvals,
        stuck=None if rollback else suggested.deletes_stuck_pods,
    )


def _unprovable(report: ObservedReport, decision: Approval, digest: str) -> Refuse | None:
    """Why one approver's decision cannot be counted for the patch with sha256 `digest`, if it cannot:
    it pins another patch, names nobody, or was written before the patch was shown."""
    name = report.metadata.name
    command = "rollback" if decision.action is ApprovalAction.ROLLBACK else "approve"
    if decision.patch_sha256 != digest:
        return Refuse(
            "PatchSHA256Mismatch",
            f"{_field_of(report, decision)} pins patchSHA256 {decision.patch_sha256} but the "
            f"{decision.action.value.lower()} patch is {digest}; review it with `kubectl sre show {name}` and "
            "approve again",
        )
    if not decision.approved_by:
        return Refuse(
            "ApproverUnknown",
            "spec.approval does not say who approved (spec.approval.approvedBy), so smart-sre cannot check "
            "that the approver may make this change themselves; nothing was applied. Approve with "
            f"`kubectl sre {command} {name}`, which names you as the API server "
            "authenticates you, or set spec.approval.approvedBy to your own username (`kubectl auth whoami`) "
            "and approverGroups to your groups",
        )
    return _predates(report, decision)


def _written(report: DiagnosticReport, decision: Approval) -> tuple[str, str] | None:
    """(time, manager) of the managedFields entry that last wrote `decision`: `spec.approval`, or the
    user's element of `spec.approvals` (a list-map, whose elements managedFields name by their key)."""
    element = "k:" + json.dumps({"approvedBy": decision.approved_by}, separators=(",", ":"))
    path = (
        ("f:spec", "f:approval") if decision is report.spec.approval else ("f:spec", "f:approvals", element)
    )
    latest: tuple[str, str] | None = None
    for entry in (report.metadata.model_extra or {}).get("managedFields") or ():
        fields = entry.get("fieldsV1") if isinstance(entry, Mapping) else None
        if _holds(fields, path) and entry.get("manager"):
            stamp = str(entry.get("time") or "")
            if latest is None or stamp >= latest[0]:
                latest = (stamp, str(entry["manager"]))
    return latest


def _holds(fields: Any, path: Sequence[str]) -> bool:
    """Whether a managedFields fieldsV1 set reaches down `path`."""
    for step in path:
        if not isinstance(fields, Mapping) or step not in fields:
            return False
        fields = fields[step]
    return True


def approved_by(report: DiagnosticReport) -> str | None:
    """Who decided: `spec.approval.approvedBy` (the user the API server admitted it from), or else the
    field manager that last wrote `spec.approval` (kubectl-patch, kubectl-sre, ...), when recorded."""
    approval = report.spec.approval
    if approval is None:
        return None
    if approval.approved_by:
        return approval.approved_by
    latest = _written(report, approval)
    return latest[1] if latest else None


def approved_at(report: DiagnosticReport) -> datetime | None:
    """When `spec.approval` was last written, as the API server recorded it in managedFields."""
    approval = report.spec.approval
    return written_at(report, approval) if approval is not None else None


def written_at(report: DiagnosticReport, decision: Approval) -> datetime | None:
    """When `decision` was last written, as the API server recorded it in managedFields."""
    latest = _written(report, decision)
    try:
        return datetime.fromisoformat(latest[0].replace("Z", "+00:00")) if latest and latest[0] else None
    except ValueError:
        return None


def already_applied(live: Mapping[str, Any], operations: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the patch's changes are all present on `live` (a restart after a successful apply)."""
    changes = [dict(operation) for operation in operations if operation.get("op") != PatchOp.TEST]
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


class PatchResult(StrEnum):
    """How one guarded patch went: the phase it leads to, and the outcome label of its metric."""

    APPLIED = "Applied"
    STALE = "Stale"
    FAILED = "Failed"


@dataclass(frozen=True)
class Outcome:
    result: PatchResult
    message: str
    reason: str = ""  # the condition's reason, when more precise than the result

    @property
    def condition_reason(self) -> str:
        return self.reason or self.result.value


_PHASE_AFTER = {
    PatchResult.APPLIED: Phase.APPLIED,
    PatchResult.STALE: Phase.STALE,
    PatchResult.FAILED: Phase.FAILED,
}

Sleep = Callable[[float], Awaitable[None]]


class Approver:
    """Acts on verdicts; one call per report at a time (the controller guarantees it).

    `reviews`: the client whose SubjectAccessReviews say whether the approver may patch the target
    themselves. `retry_delays`: the waits between attempts of a workload PATCH the API server failed
    (5xx, 429, unreachable); `sleep` waits them.
    """

    def __init__(
        self,
        writer: ClusterWriter,
        metrics: Metrics,
        *,
        reviews: Cluster,
        retry_delays: Sequence[float] = APPLY_RETRY_DELAYS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._reviews = reviews
        self._retry_delays = tuple(retry_delays)
        self._sleep = sleep

    async def handle(
        self, report: ObservedReport, verdict: Refuse | Reject | Apply, *, now: datetime
    ) -> ObservedReport | None:
        """Act on the report's decision as judged; returns the updated report when something changed."""
        match verdict:
            case Refuse():
                return await self._refuse(report, verdict, now=now)
            case Reject(by=who):
                check_transition(phase_of(report), Phase.REJECTED)
                self._metrics.rejections.inc()
                kopf.info(event_target(report), reason="Rejected", message=f"rejected by {who or 'a human'}")
                return await self._writer.patch_report_status(
                    report,
                    DiagnosticReportStatus(
                        phase=Phase.REJECTED, approved_by=who, timings=_finished(report, now)
                    ),
                )
            case Apply():
                if refused := await self._gitops_managed(report, verdict):
                    return await self._refuse(report, refused, now=now)
                counted, denied = await self._review_approvers(verdict)
                if len(counted) >= verdict.required:
                    return await self._apply(report, verdict, counted[: verdict.required], now=now)
                if verdict.required == 1:
                    return await self._refuse(report, _not_allowed(report, verdict, denied), now=now)
                return await self._await_more(report, verdict, counted, denied, now=now)

    async def _gitops_managed(self, report: ObservedReport, verdict: Apply) -> Refuse | None:
        """Why the fix may not be applied live: Argo CD, Flux or Helm deploys the target (a mark only
        that tool writes) and the policy says to commit such fixes (remediation.gitOpsManaged Suggest).
        Read from the live target, not status.managedBy, which whoever may write the status could drop.
        A rollback is not refused: it takes the target back towards what the tool deploys."""
        policy = verdict.policy
        if (
            verdict.action is ApprovalAction.ROLLBACK
            or policy.spec.remediation.git_ops_managed is GitOpsManaged.APPLY
        ):
            return None
        management = await managed(self._writer, verdict.target)
        if management is None or not management.certain:
            return None
        message = refusal(management, target=verdict.target, policy=policy.name, report=report.metadata.name)
        return Refuse("GitOpsManaged", message)

    async def _review_approvers(self, verdict: Apply) -> tuple[list[str], list[tuple[str, str]]]:
        """The approvers who may patch the target themselves, and (user, why not) for those who may not:
        approving must not lend the operator's rights to someone without them."""
        counted: list[str] = []
        denied: list[tuple[str, str]] = []
        for signer in verdict.approvers:
            access = await may_patch(
                self._reviews, user=signer.user, groups=signer.groups, target=verdict.target
            )
            if access.allowed:
                counted.append(signer.user)
            else:
                denied.append((signer.user, access.reason))
        return counted, denied

    async def _await_more(
        self,
        report: ObservedReport,
        verdict: Apply,
        counted: list[str],
        denied: list[tuple[str, str]],
        *,
        now: datetime,
    ) -> ObservedReport | None:
        """Say on the Approvals condition who counted, who did not and why, and who is still wanted."""
        target, name = verdict.target, report.metadata.name
        where = f"{target.kind} {target.namespace}/{target.name}"
        missing = verdict.required - len(counted)
        wanted = "another approver who may" if missing == 1 else f"{missing} more approvers who may"
        message = (
            f"{len(counted)} of {verdict.required} approvals: {', '.join(counted) or 'none yet'}; "
            f"waiting for {wanted} patch {where}"
        )
        if denied:
            message += ". Not counted: " + "; ".join(
                f"{user} approved, but may not patch it themselves ({reason})" for user, reason in denied
            )
        command = "rollback" if verdict.action is ApprovalAction.ROLLBACK else "approve"
        message += f". Each of them runs `kubectl sre {command} {name}`"
        current = condition_of(report, CONDITION_APPROVALS)
        if current and current.reason == "AwaitingMoreApprovals" and current.message == message[:1024]:
            return None  # already said so; do not loop on our own status write
        conditions = with_condition(
            report.status.conditions, CONDITION_APPROVALS, False, "AwaitingMoreApprovals", message, now=now
        )
        return await self._writer.patch_report_status(report, DiagnosticReportStatus(conditions=conditions))

    async def _refuse(
        self, report: ObservedReport, verdict: Refuse, *, now: datetime
    ) -> ObservedReport | None:
        phase = phase_of(report)
        fails = verdict.terminal and phase in _FAILABLE
        current = condition_of(report, CONDITION_REFUSED)
        if not fails and current and current.reason == verdict.reason and current.message == verdict.message:
            return None  # already said so; do not loop on our own status write
        self._metrics.approvals_refused.labels(reason=verdict.reason).inc()
        logger.warning(
            "approval refused",
            extra={
                "report": report.metadata.name,
                "namespace": report.metadata.namespace,
                "reason": verdict.reason,
                "fails_report": fails,
            },
        )
        kopf.warn(
            event_target(report),
            reason=verdict.reason if fails else CONDITION_REFUSED,
            message=verdict.message[:1024],
        )
        conditions = with_condition(
            report.status.conditions, CONDITION_REFUSED, True, verdict.reason, verdict.message, now=now
        )
        if not fails:
            return await self._writer.patch_report_status(
                report, DiagnosticReportStatus(conditions=conditions)
            )
        check_transition(phase, Phase.FAILED)
        return await self._writer.patch_report_status(
            report,
            DiagnosticReportStatus(phase=Phase.FAILED, conditions=conditions, timings=_finished(report, now)),
        )

    async def _apply(
        self, report: ObservedReport, verdict: Apply, approvers: list[str], *, now: datetime
    ) -> ObservedReport:
        """Apply the patch that `approvers`, each allowed to make the change, approved."""
        rollback = verdict.action is ApprovalAction.ROLLBACK
        kind_label = verdict.action.value
        if phase_of(report) is not Phase.APPLYING:
            check_transition(phase_of(report), Phase.APPLYING)
            self._metrics.approvals.labels(kind=kind_label).inc()
            who = ", ".join(approvers)[:512]
            conditions = with_condition(
                report.status.conditions,
                CONDITION_REFUSED,
                False,
                "Approved",
                f"{kind_label} approved by {who}",
                now=now,
            )
            if verdict.required > 1:
                conditions = with_condition(
                    conditions,
                    CONDITION_APPROVALS,
                    True,
                    "Approved",
                    f"{len(approvers)} of {verdict.required} approvals: {who}",
                    now=now,
                )
            report = await self._writer.patch_report_status(
                report, DiagnosticReportStatus(phase=Phase.APPLYING, approved_by=who, conditions=conditions)
            )
        started = time.monotonic()
        outcome = await self._patch_target(report, verdict)
        applied = outcome.result is PatchResult.APPLIED
        # A rollback that did not happen leaves the fix in place: the report still says Applied.
        phase = Phase.APPLIED if rollback else _PHASE_AFTER[outcome.result]
        message = outcome.message if applied or not rollback else f"{outcome.message}; the fix stays applied"
        if applied and not rollback and (note := await self._replace_stuck(report, verdict)):
            message = f"{message}; {note}"
        self._metrics.patch_outcomes.labels(kind=kind_label, outcome=outcome.result.value).inc()
        timings = (report.status.timings or Timings()).model_copy(
            update={"apply_ms": int((time.monotonic() - started) * 1000)}
        )
        if not rollback:
            timings = timings.model_copy(update={"finished_at": timestamp(now)})
        conditions = with_condition(
            report.status.conditions,
            CONDITION_ROLLED_BACK if rollback else CONDITION_APPLIED,
            applied,
            outcome.condition_reason,
            message,
            now=now,
        )
        update = DiagnosticReportStatus(phase=phase, conditions=conditions, timings=timings)
        if rollback and applied:
            update = update.model_copy(update={"verification": None})  # the rollout is verified afresh
        event = kopf.info if applied else kopf.warn
        event(event_target(report), reason=f"{kind_label}{outcome.result.value}", message=message[:1024])
        logger.info(
            "patch outcome",
            extra={
                "report": report.metadata.name,
                "kind": kind_label,
                "outcome": outcome.result.value,
                "reason": outcome.condition_reason,
            },
        )
        return await self._writer.patch_report_status(report, update)

    async def _replace_stuck(self, report: ObservedReport, verdict: Apply) -> str | None:
        """Delete the pods the target's controller leaves stuck on the old template, when the sealed
        suggestion said so; what was done, or which pods a human must delete, for the condition."""
        target = verdict.target
        try:
            replaced = await replace_stuck(
                self._writer,
                target.kind,
                target.namespace,
                target.name,
                delete=verdict.stuck is not None,
                sleep=self._sleep,
            )
        except ClusterError as error:
            return f"stuck pods of {target.kind}/{target.name} were not looked for: {error}"
        if replaced is None or not (replaced.deleted or replaced.left):
            return None
        logger.info(
            "stuck pods",
            extra={
                "report": report.metadata.name,
                "target": f"{target.kind}/{target.name}",
                "deleted": ",".join(replaced.deleted),
                "left": ",".join(replaced.left),
            },
        )
        note = _replacement_note(replaced, target.namespace)
        if replaced.left:
            kopf.warn(event_target(report), reason="StuckPodsLeft", message=note[:1024])
        return note

    async def _patch_target(self, report: ObservedReport, verdict: Apply) -> Outcome:
        """The outcome of one guarded patch, sent only once the target is proven again."""
        target = verdict.target
        where = f"{target.kind}/{target.name}"
        if target.kind not in KINDS:
            return Outcome(PatchResult.FAILED, f"smart-sre cannot patch objects of kind {target.kind}")
        operations = [
            operation.model_dump(mode="json", by_alias=True, exclude_none=True)
            for operation in verdict.operations
        ]
        live = await self._writer.get(target.kind, target.namespace, target.name)
        if live is None:
            return Outcome(PatchResult.STALE, f"{where} no longer exists")
        if live["metadata"].get("uid") != target.uid:
            return Outcome(PatchResult.STALE, f"{where} was deleted and re-created since the analysis")
        if already_applied(live, operations):
            return Outcome(
                PatchResult.APPLIED, f"{where} already carries the patch (sha256 {verdict.sha256[:12]})"
            )
        if failure := guard_failure(live, operations):
            return Outcome(
                PatchResult.STALE,
                f"{where} changed since the analysis and the guarded patch no longer applies: {failure}",
            )
        if unproven := await self._prove(report, verdict, live, operations):
            return unproven
        return await self._send(target, operations, verdict.sha256)

    async def _prove(
        self,
        report: ObservedReport,
        verdict: Apply,
        live: dict[str, Any],
        operations: list[dict[str, Any]],
    ) -> Outcome | None:
        """Why the patch may not be sent after all: the target is no longer the failing pod's owner,
        or the patch no longer passes the policy's safety checks (with a fresh dry run)."""
        target, pod_ref = verdict.target, verdict.pod
        where = f"{target.kind}/{target.name}"
        if verdict.action is ApprovalAction.ROLLBACK:
            # The object this report patched (same uid); the pod it was about is usually replaced by now.
            chain = [{**live, "kind": target.kind}]
        else:
            pod = await self._writer.get("Pod", report.metadata.namespace, pod_ref.name)
            if pod is None or pod["metadata"].get("uid") != pod_ref.uid:
                return Outcome(
                    PatchResult.STALE,
                    f"pod {pod_ref.name} is gone since the analysis, so nothing shows that {where} still owns a "
                    "failing pod; nothing was applied. If the workload still fails, its next failure opens a new report",
                    reason="PodGone",
                )
            pod.setdefault("kind", "Pod")
            if not verdict.policy.selects(pod):
                return Outcome(
                    PatchResult.FAILED,
                    f"policy {verdict.policy.name} no longer selects pod {pod_ref.name}; nothing was applied",
                    reason="PodNotSelected",
                )
            chain = await owner_chain(self._writer, pod)
            if not any(
                owner.get("kind") == target.kind
                and owner["metadata"].get("name") == target.name
                and owner["metadata"].get("uid") == target.uid
                for owner in chain
            ):
                owners = " -> ".join(
                    f"{owner.get('kind')}/{owner['metadata'].get('name')}" for owner in chain
                )
                return Outcome(
                    PatchResult.FAILED,
                    f"{where} (uid {target.uid}) is not in the owner chain of pod {pod_ref.name} ({owners}, "
                    "each owner checked by uid); nothing was applied",
                    reason="NotInOwnerChain",
                )
        changes = [operation for operation in operations if operation["op"] != PatchOp.TEST]
        remediation = verdict.policy.spec.remediation
        try:
            await self._retrying(lambda: vet_patch(self._writer, chain, where, changes, remediation), where)
        except PatchRejected as error:
            return Outcome(
                PatchResult.FAILED,
                f"the patch no longer passes policy {verdict.policy.name}'s safety checks: {error}; "
                "nothing was applied",
                reason="UnsafePatch",
            )
        except ClusterError as error:
            return Outcome(
                PatchResult.FAILED,
                f"the API server kept failing the dry run of the patch to {where} "
                f"({error.attempts} attempts): {error}; nothing was applied",
                reason="DryRunFailed",
            )
        return None

    async def _retrying(self, call: Callable[[], Awaitable[T]], where: str) -> tuple[T, int]:
        """`call`'s answer and the attempts it took, retrying what the API server may answer differently
        next time (unreachable, 429, 5xx) with back-off; the last error propagates."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call(), attempt
            except ClusterError as error:
                if attempt > len(self._retry_delays) or not error.transient:
                    error.attempts = attempt
                    raise
                delay = self._retry_delays[attempt - 1]
                logger.warning(
                    "API call failed; retrying",
                    extra={"target": where, "status": error.status, "attempt": attempt, "retry_in_s": delay},
                )
                await self._sleep(delay)

    async def _send(self, target: PatchTarget, operations: list[dict[str, Any]], sha256: str) -> Outcome:
        """PATCH the target, retrying what the API server may answer differently next time."""
        where = f"{target.kind}/{target.name}"
        try:
            _, attempt = await self._retrying(
                lambda: self._writer.apply_json_patch(target.kind, target.namespace, target.name, operations),
                where,
            )
        except ClusterError as error:
            failure, attempt = error, error.attempts
        else:
            tries = f" at attempt {attempt}" if attempt > 1 else ""
            return Outcome(PatchResult.APPLIED, f"patched {where} (sha256 {sha256[:12]}){tries}")
        live = await self._writer.get(target.kind, target.namespace, target.name)
        if live is not None and already_applied(live, operations):
            return Outcome(
                PatchResult.APPLIED,
                f"patched {where} (sha256 {sha256[:12]}): an earlier attempt landed though its answer was lost",
            )
        if live is not None and guard_failure(live, operations):
            return Outcome(PatchResult.STALE, f"{where} changed while the patch was being applied: {failure}")
        return Outcome(
            PatchResult.FAILED,
            f"the API server refused the patch to {where} after {attempt} attempt(s): {failure}; "
            "the target was not changed",
        )


def _not_allowed(report: ObservedReport, verdict: Apply, denied: list[tuple[str, str]]) -> Refuse:
    """The refusal when the one approval a policy needs came from nobody who may make the change."""
    target, name = verdict.target, report.metadata.name
    command = "rollback" if verdict.action is ApprovalAction.ROLLBACK else "approve"
    who = "; ".join(
        f"{user} approved, but may not patch {target.kind} {target.namespace}/{target.name} themselves ({reason})"
        for user, reason in denied
    )
    return Refuse(
        "ApproverNotAllowed",
        f"{who}; smart-sre applies a patch only for an approver who could make the change, so nothing was "
        f"applied. Ask someone who may patch it to run `kubectl sre {command} {name}`, or grant the approver "
        "patch on it and approve again",
    )


def _pod_names(names: Sequence[str], shown: int = 8) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _replacement_note(replaced: Replacement, namespace: str) -> str:
    """The stuck pods deleted, and those left with the command that deletes them, as a condition says."""
    parts = []
    if replaced.deleted:
        parts.append(
            f"deleted pod(s) {_pod_names(replaced.deleted)}, not on the patched revision and not Running and "
            f"Ready, so that the controller recreates them from the patched template ({replaced.reason})"
        )
    if replaced.left:
        parts.append(
            f"pod(s) {_pod_names(replaced.left)} stay stuck on the old revision ({replaced.reason}) and were "
            f"not deleted: {replaced.problem}; delete them with "
            f"`kubectl delete pod -n {namespace} {' '.join(replaced.left)}`"
        )
    return "; ".join(parts)


def _finished(report: ObservedReport, now: datetime) -> Timings:
    return (report.status.timings or Timings()).model_copy(update={"finished_at": timestamp(now)})
