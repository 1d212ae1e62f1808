"""DiagnosticReport: one investigation of one failing workload, from evidence to an approved patch.

Mirrors crds/diagnosticreport.yaml; the descriptions live there (`kubectl explain dr.status`).
Every string and list is bounded so that a full report stays far below the API server's object size
limit (the worst case is computed in tests/test_crds.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from smart_sre.api.common import (
    API_VERSION,
    ApiModel,
    Conditions,
    DnsLabel,
    DnsSubdomain,
    ModelName,
    ObjectMeta,
    Phase,
    RootCause,
    Sha256,
    Trigger,
    Uid,
)

logger = logging.getLogger(__name__)

MAX_STEPS_IN_CHAIN = 16
MAX_PATCH_VALUE_CHARS = 1024

JsonPointer = Annotated[str, StringConstraints(max_length=256, pattern=r"^(/([^/~]|~[01])*)*$")]
ApiVersion = Annotated[
    str, StringConstraints(max_length=253, pattern=r"^([a-z0-9][-a-z0-9.]*/)?v[0-9]+((alpha|beta)[0-9]+)?$")
]
Kind = Annotated[str, StringConstraints(max_length=63, pattern=r"^[A-Z][A-Za-z0-9]*$")]
StepIndex = Annotated[int, Field(ge=0, le=MAX_STEPS_IN_CHAIN - 1)]
Millis = Annotated[int, Field(ge=0)]


class Decision(StrEnum):
    APPROVED = "Approved"
    REJECTED = "Rejected"


class ApprovalAction(StrEnum):
    APPLY = "Apply"
    ROLLBACK = "Rollback"


class Confidence(StrEnum):
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


class PatchOp(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"
    MOVE = "move"
    COPY = "copy"
    TEST = "test"


class VerificationResult(StrEnum):
    VERIFIED = "Verified"
    NOT_VERIFIED = "NotVerified"


class GitOpsTool(StrEnum):
    """A tool that deploys workloads from Git or a chart and writes its own state back over live changes."""

    ARGO_CD = "ArgoCD"
    FLUX = "Flux"
    HELM = "Helm"


class GitOpsKind(StrEnum):
    """What the tool deploys the workload as: the object to change instead of the workload."""

    APPLICATION = "Application"  # Argo CD
    KUSTOMIZATION = "Kustomization"  # Flux kustomize-controller
    HELM_RELEASE = "HelmRelease"  # Flux helm-controller
    RELEASE = "Release"  # a release installed with the helm command


class PodRef(ApiModel):
    name: DnsSubdomain
    uid: Uid


class WorkloadRef(ApiModel):
    api_version: ApiVersion
    kind: Kind
    name: DnsSubdomain
    uid: Uid


class PolicyRef(ApiModel):
    name: DnsSubdomain


class Approval(ApiModel):
    decision: Decision
    action: ApprovalAction = ApprovalAction.APPLY
    patch_sha256: Annotated[Sha256 | None, Field(alias="patchSHA256")] = None
    # Who decided, as the API server authenticated them: deploy/base/approval-admission-policy.yaml
    # admits no other username and no group they are not in (smart_sre.k8s.access checks their RBAC).
    approved_by: Annotated[str, StringConstraints(max_length=512)] | None = None
    approver_groups: (
        Annotated[list[Annotated[str, StringConstraints(max_length=256)]], Field(max_length=16)] | None
    ) = None

    @model_validator(mode="after")
    def _approval_pins_a_patch(self) -> Approval:
        if self.decision is Decision.APPROVED and self.patch_sha256 is None:
            raise ValueError("an approval must name the patchSHA256 of the patch it approves")
        return self


class ApproverEntry(Approval):
    """One person's own decision in `spec.approvals`, for a policy that wants several approvers.

    Keyed by `approvedBy` (a list-map), so each approver writes only their entry; the admission policy
    admits an entry added, changed or removed only by the user it names.
    """

    # Shorter than in `spec.approval`, so that every entry a policy may require fits in one report.
    approved_by: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    approver_groups: (
        Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=16)] | None
    ) = None


def _one_entry_per_approver(entries: list[ApproverEntry]) -> list[ApproverEntry]:
    """The API server keys the list by approvedBy and refuses a name twice; so does the model."""
    names = [entry.approved_by for entry in entries]
    if len(set(names)) != len(names):
        raise ValueError("spec.approvals holds one entry per approvedBy")
    return entries


# As many as a policy may require (remediation.requiredApprovals); an entry that does not count (its
# approver may not patch the target) is withdrawn by its own approver to make room.
MAX_APPROVER_ENTRIES = 5


class DiagnosticReportSpec(ApiModel):
    pod_ref: PodRef
    workload_ref: WorkloadRef
    trigger: Trigger
    policy_ref: PolicyRef
    approval: Approval | None = None
    # Decisions of further approvers, when the policy requires more than one (remediation.requiredApprovals);
    # `approval` counts as one more entry, in its approvedBy's name.
    approvals: (
        Annotated[
            list[ApproverEntry],
            Field(
                max_length=MAX_APPROVER_ENTRIES,
                json_schema_extra={
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["approvedBy"],
                },
            ),
            AfterValidator(_one_entry_per_approver),
        ]
        | None
    ) = None


class Evidence(ApiModel):
    step: StepIndex
    quote: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class Findings(ApiModel):
    summary: Annotated[str, StringConstraints(min_length=1, max_length=400)]
    root_cause: RootCause
    confidence: Confidence
    evidence: Annotated[list[Evidence], Field(max_length=8)] | None = None


class Action(ApiModel):
    tool: Annotated[str, StringConstraints(max_length=63, pattern=r"^[a-z][a-z0-9_]*$")]
    arguments: (
        Annotated[
            dict[
                Annotated[str, StringConstraints(max_length=63)],
                Annotated[str, StringConstraints(max_length=253)],
            ],
            Field(max_length=4),
        ]
        | None
    ) = None


class ReasoningStep(ApiModel):
    index: StepIndex
    observation: Annotated[str, StringConstraints(max_length=1536)]
    thought: Annotated[str, StringConstraints(max_length=512)] | None = None
    action: Action | None = None
    result: Annotated[str, StringConstraints(max_length=1536)] | None = None


class PatchOperation(ApiModel):
    """One RFC 6902 operation; `value` is any JSON but not null (remove the field instead)."""

    op: PatchOp
    path: JsonPointer
    from_: Annotated[JsonPointer | None, Field(alias="from")] = None
    value: Any = None

    @field_validator("value")
    @classmethod
    def _value_is_small(cls, value: Any) -> Any:
        if value is not None and len(json.dumps(value, separators=(",", ":"))) > MAX_PATCH_VALUE_CHARS:
            raise ValueError(f"a patch value is at most {MAX_PATCH_VALUE_CHARS} characters of JSON")
        return value

    @model_validator(mode="after")
    def _fields_match_op(self) -> PatchOperation:
        if (self.op in (PatchOp.MOVE, PatchOp.COPY)) != (self.from_ is not None):
            raise ValueError("'from' is required for move and copy, and only for them")
        if (self.op in (PatchOp.ADD, PatchOp.REPLACE, PatchOp.TEST)) != (self.value is not None):
            raise ValueError("'value' is required for add, replace and test, and only for them")
        return self


Operations = Annotated[list[PatchOperation], Field(min_length=1, max_length=16)]


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    return value


def canonical_json(document: Any) -> str:
    """Compact JSON with sorted keys, integral numbers without a fraction: the same text for a value
    however it was re-encoded on its way through the API server (Go writes 2.0 as 2)."""
    return json.dumps(
        _integral_floats_as_ints(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def patch_sha256(operations: list[PatchOperation], target: PatchTarget) -> str:
    """The digest an approval pins: sha256 of the target and the operations as canonical JSON, so an
    approval covers both what changes and which object it changes."""
    document = {
        "target": target.model_dump(mode="json", by_alias=True, exclude_none=True),
        "operations": [
            operation.model_dump(mode="json", by_alias=True, exclude_none=True) for operation in operations
        ],
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


class Patch(ApiModel):
    operations: Operations
    sha256: Sha256


class PatchTarget(ApiModel):
    api_version: ApiVersion
    kind: Kind
    namespace: DnsLabel
    name: DnsSubdomain
    uid: Uid | None = None
    resource_version: Annotated[str, StringConstraints(max_length=64)] | None = None


class DryRun(ApiModel):
    passed: bool
    message: Annotated[str, StringConstraints(max_length=1024)] | None = None


class StuckCause(StrEnum):
    """Why the target's controller will not replace a pod stuck on the old template (k8s.stuck_pods)."""

    ORDERED_READY = "OrderedReady"  # a StatefulSet's rolling update waits for it ("forced rollback")
    ON_DELETE = "OnDelete"  # a StatefulSet or DaemonSet replaces a pod only once it is deleted


class StuckPodDeletion(ApiModel):
    """`suggestedPatch.deletesStuckPods`: approving the patch also deletes the target's pods that are not
    on the patched revision and not Running and Ready, chosen from the live cluster once it is applied.
    Said before approval and sealed with the suggestion."""

    cause: StuckCause


class SuggestedPatch(Patch):
    target: PatchTarget
    dry_run: DryRun | None = None
    deletes_stuck_pods: StuckPodDeletion | None = None
    # HMAC-SHA256 by the operator's key over the report's uid and the whole suggestion (see
    # smart_sre.lifecycle.approval): only the operator can write a suggestion it will apply.
    seal: Sha256 | None = None


class ModelRef(ApiModel):
    name: ModelName
    sha256: Sha256


class Timings(ApiModel):
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queued_ms: Millis | None = None
    analysis_ms: Millis | None = None
    approval_wait_ms: Millis | None = None
    apply_ms: Millis | None = None
    verification_ms: Millis | None = None


class Verification(ApiModel):
    result: VerificationResult
    message: Annotated[str, StringConstraints(max_length=1024)] | None = None
    checked_at: datetime | None = None


class Management(ApiModel):
    """Which tool deploys a workload, as the marks on it show (smart_sre.k8s.gitops).

    Labels and annotations are written by whoever may edit the workload, so `name` and `namespace`
    are kept only when they are valid Kubernetes names, and `evidence` names the mark's key, never
    its value. `certain`: the mark is the tool's own (Argo CD's tracking-id annotation, Flux's
    labels, Helm's release annotations); a label other tools and charts also write only says the
    tool may manage it.
    """

    tool: GitOpsTool
    kind: GitOpsKind
    name: DnsSubdomain | None = None
    namespace: DnsLabel | None = None
    certain: bool
    evidence: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ManagedBy(Management):
    """`status.managedBy`: the management found at analysis, and what it means for this report's fix."""

    note: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


MAX_CHANGED_FIELDS = 8
RevisionNumber = Annotated[int, Field(ge=0)]
ChangedValue = Annotated[str, StringConstraints(max_length=256)]


class ChangedField(ApiModel):
    """One field of the pod template that differs from the last revision that ran healthy; values are
    redacted and cut, and an absent `from` or `to` means the field was unset."""

    path: JsonPointer  # into the pod template: /spec/containers/0/image
    from_: Annotated[ChangedValue | None, Field(alias="from")] = None
    to: ChangedValue | None = None
    revision: RevisionNumber  # the revision that made the change


class TemplateChanges(ApiModel):
    """`status.changes`: what changed in the failing pod's template since its workload last ran healthy."""

    revision: RevisionNumber  # the failing pod's
    healthy_revision: RevisionNumber
    healthy: Annotated[str, StringConstraints(min_length=1, max_length=256)]  # how that was decided
    fields: Annotated[list[ChangedField], Field(max_length=MAX_CHANGED_FIELDS)]
    omitted: Annotated[int, Field(ge=1)] | None = None  # changed fields not listed


MAX_ADJUDICATION_OPTIONS = 4  # the best few, by score: a report stays under 1 MiB


class AdjudicationKind(StrEnum):
    CAUSE = "Cause"  # which of the close candidate causes and fixes the facts support
    CULPRIT = "Culprit"  # which field of the pod spec a failure no analyzer explains comes from


class Scoring(StrEnum):
    CALIBRATED = "Calibrated"  # log-likelihood after the evidence minus after no evidence
    LIKELIHOOD = "Likelihood"  # log-likelihood after the evidence (no prior was measured)
    # The option's prior plus how much likelier the failure's line is once it is named as the culprit
    # than once it is only named.
    CHANNEL = "Channel"
    CHOICE = "Choice"  # an endpoint without log-probabilities picked one option: no margin


class AdjudicationOption(ApiModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=80)]  # named by its content
    score: float | None = None  # higher is likelier; None under Choice


class Adjudication(ApiModel):
    """One decision the model made between options named by their content, and by how much."""

    kind: AdjudicationKind
    scoring: Scoring
    options: Annotated[list[AdjudicationOption], Field(min_length=2, max_length=MAX_ADJUDICATION_OPTIONS)]
    chosen: Annotated[int, Field(ge=0, le=MAX_ADJUDICATION_OPTIONS - 1)]
    margin: Annotated[float, Field(ge=0)] | None = None  # chosen's score minus the runner-up's

    @model_validator(mode="after")
    def _chosen_is_an_option(self) -> Adjudication:
        if self.chosen >= len(self.options):
            raise ValueError(f"chosen {self.chosen} is not one of the {len(self.options)} options")
        return self


class DiagnosticReportStatus(ApiModel):
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    phase: Phase | None = None
    conditions: Conditions | None = None
    findings: Findings | None = None
    changes: TemplateChanges | None = None
    adjudications: Annotated[list[Adjudication], Field(max_length=2)] | None = None
    reasoning_chain: Annotated[list[ReasoningStep], Field(max_length=MAX_STEPS_IN_CHAIN)] | None = None
    suggested_patch: SuggestedPatch | None = None
    rollback_patch: Patch | None = None
    # When the operator showed the suggestion (sealed with it): an approval must come after it.
    suggested_at: datetime | None = None
    no_patch_reason: Annotated[str, StringConstraints(min_length=1, max_length=400)] | None = None
    model: ModelRef | None = None
    timings: Timings | None = None
    approved_by: Annotated[str, StringConstraints(max_length=512)] | None = None
    verification: Verification | None = None
    # Argo CD, Flux or Helm deploys the target: a live patch would be reverted or flagged as drift.
    managed_by: ManagedBy | None = None

    @model_validator(mode="after")
    def _patch_or_reason(self) -> DiagnosticReportStatus:
        if self.suggested_patch is not None and self.no_patch_reason is not None:
            raise ValueError("a report has either a suggestedPatch or a noPatchReason, not both")
        return self


class DiagnosticReport(ApiModel):
    api_version: Literal["smartsre.io/v1alpha1"] = API_VERSION
    kind: Literal["DiagnosticReport"] = "DiagnosticReport"
    metadata: ObjectMeta
    spec: DiagnosticReportSpec
    status: DiagnosticReportStatus | None = None


_STATUS_FIELDS = [field.alias or name for name, field in DiagnosticReportStatus.model_fields.items()]


class ObservedReport(DiagnosticReport):
    """A report as the operator reads it from a watch or the API server; a bad status never stops it.

    `status` is empty until the operator first writes it. A status field that does not validate (a
    hand edit through the status subresource, an older operator's shape) is left out and logged, so
    the lifecycle acts as if it was never written: a report without a phase is Pending and analysed
    afresh, one without its verification is verified again. Fields are kept in the model's order, so
    of a suggestedPatch and a noPatchReason written together the patch stays (an approval must still
    pin its sha256). Metadata and spec are validated strictly: the API server enforces them with the
    CRD's schema and rules, which these models mirror.
    """

    status: DiagnosticReportStatus = Field(default_factory=DiagnosticReportStatus)

    @field_validator("status", mode="wrap")
    @classmethod
    def _valid_fields_only(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> DiagnosticReportStatus:
        try:
            return handler({} if value is None else value)
        except ValidationError as error:
            refused = error
        fields: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
        kept: dict[str, Any] = {}
        for key in (name for name in _STATUS_FIELDS if name in fields):
            try:
                handler({**kept, key: fields[key]})
            except ValidationError:
                continue
            kept[key] = fields[key]
        metadata = info.data.get("metadata")
        logger.warning(
            "report status fields ignored: they do not validate",
            extra={
                "report": metadata.name if metadata else None,
                "namespace": metadata.namespace if metadata else None,
                "fields": ",".join(key for key in fields if key not in kept) or "status",
                "error": "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'status'}: {e['msg']}" for e in refused.errors()[:3]
                ),
            },
        )
        return handler(kept)
