"""DebugPolicy: which pods smart-sre watches, for which failures, and what it may suggest changing.

Mirrors crds/debugpolicy.yaml; the descriptions live there (`kubectl explain debugpolicy.spec`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from smart_sre.api.common import (
    API_VERSION,
    SET_LIST,
    UNIQUE,
    ApiModel,
    Conditions,
    DnsLabel,
    Duration,
    ModelName,
    ObjectMeta,
    Trigger,
)

DEFAULT_MODEL = "gemma-3-270m-q4_k_m"  # models.lock's default

# Paths under a workload's pod template; a '*' stands for exactly one segment (a container index).
_CONTAINER = "/spec/template/spec/containers/*"
DEFAULT_ALLOWED_PATHS = (
    f"{_CONTAINER}/image",
    f"{_CONTAINER}/env",
    f"{_CONTAINER}/resources",
    f"{_CONTAINER}/command",
    f"{_CONTAINER}/args",
    f"{_CONTAINER}/livenessProbe",
    f"{_CONTAINER}/readinessProbe",
    f"{_CONTAINER}/startupProbe",
    "/spec/template/spec/nodeSelector",
    "/spec/template/spec/tolerations",
    "/spec/template/spec/affinity",
)

# Fields no policy may open to patches, whatever its allowedPaths say (mirrors the CRD's CEL rule).
FORBIDDEN_PATH_WORDS = (
    "securityContext",
    "privileged",
    "capabilities",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "hostPath",
    "hostPort",
    "serviceAccount",
    "automountServiceAccountToken",
    "volumes",
    "volumeMounts",
)


class LabelSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class TargetKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"
    DAEMON_SET = "DaemonSet"
    REPLICA_SET = "ReplicaSet"
    POD = "Pod"


LabelKey = Annotated[
    str,
    StringConstraints(
        max_length=317,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$",
    ),
]
LabelValue = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
]
PathPattern = Annotated[
    str, StringConstraints(min_length=2, max_length=256, pattern=r"^(/([^/~*]|~[01])+|/\*)+$")
]


class LabelSelectorRequirement(ApiModel):
    key: LabelKey
    operator: LabelSelectorOperator
    values: Annotated[list[LabelValue], Field(max_length=64, json_schema_extra=SET_LIST), UNIQUE] | None = (
        None
    )

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        needs_values = self.operator in (LabelSelectorOperator.IN, LabelSelectorOperator.NOT_IN)
        if needs_values and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if not needs_values and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelector(ApiModel):
    match_labels: (
        Annotated[dict[Annotated[str, StringConstraints(max_length=317)], LabelValue], Field(max_length=32)]
        | None
    ) = None
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=16)] | None = None


class Rule(ApiModel):
    namespaces: Annotated[
        list[DnsLabel], Field(min_length=1, max_length=64, json_schema_extra=SET_LIST), UNIQUE
    ]
    selector: LabelSelector | None = None


def _no_forbidden_words(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        lowered = pattern.lower()
        if any(word.lower() in lowered for word in FORBIDDEN_PATH_WORDS):
            raise ValueError(
                f"{pattern!r} touches a field smart-sre never patches ({', '.join(FORBIDDEN_PATH_WORDS)})"
            )
    return patterns


class Remediation(ApiModel):
    allowed_target_kinds: Annotated[
        list[TargetKind], Field(max_length=5, json_schema_extra=SET_LIST), UNIQUE
    ] = Field(default_factory=lambda: [TargetKind.DEPLOYMENT, TargetKind.STATEFUL_SET, TargetKind.DAEMON_SET])
    allowed_paths: Annotated[
        list[PathPattern],
        Field(max_length=32, json_schema_extra=SET_LIST),
        UNIQUE,
        AfterValidator(_no_forbidden_words),
    ] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_PATHS))


class Redaction(ApiModel):
    patterns: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=256)]],
        Field(min_length=1, max_length=32),
    ]


class DebugPolicySpec(ApiModel):
    rules: Annotated[list[Rule], Field(min_length=1, max_length=32)]
    triggers: Annotated[
        list[Trigger], Field(min_length=1, max_length=5, json_schema_extra=SET_LIST), UNIQUE
    ] = Field(default_factory=lambda: [Trigger.CRASH_LOOP_BACK_OFF, Trigger.PENDING])
    pending_grace_period: Duration = "2m"
    cooldown: Duration = "10m"
    report_retention: Duration = "168h"
    max_concurrent_analyses: Annotated[int, Field(ge=1, le=16)] = 2
    max_steps: Annotated[int, Field(ge=1, le=14)] = 6
    model: ModelName = DEFAULT_MODEL
    remediation: Remediation = Field(default_factory=Remediation)
    redaction: Redaction | None = None


class DebugPolicyStatus(ApiModel):
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    matched_pods: Annotated[int, Field(ge=0)] | None = None
    open_reports: Annotated[int, Field(ge=0)] | None = None
    conditions: Conditions | None = None


class DebugPolicy(ApiModel):
    api_version: Literal["smartsre.io/v1alpha1"] = API_VERSION
    kind: Literal["DebugPolicy"] = "DebugPolicy"
    metadata: ObjectMeta
    spec: DebugPolicySpec
    status: DebugPolicyStatus | None = None
