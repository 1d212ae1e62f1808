"""Pieces shared by both custom resources: the base model, enums, conditions and bounded types.

The CRD YAML in `crds/` is the contract the API server enforces; these models mirror it so that Python
code fails at the same place the server would (tests/test_crds.py walks both and checks they agree).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

GROUP = "smartsre.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields rejected as the server prunes them."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Trigger(StrEnum):
    """The pod failures a policy can react to."""

    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    PENDING = "Pending"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    OOM_KILLED = "OOMKilled"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    # Running, but a container's readiness probe has not passed for the grace period: no restart shows it.
    NOT_READY = "NotReady"


class Phase(StrEnum):
    """Where a DiagnosticReport is in its lifecycle."""

    PENDING = "Pending"
    ANALYZING = "Analyzing"
    AWAITING_APPROVAL = "AwaitingApproval"
    # The analysis ended with findings and no patch to approve: nothing is left for a human to decide.
    FINDINGS_ONLY = "FindingsOnly"
    APPLYING = "Applying"
    APPLIED = "Applied"
    FAILED = "Failed"
    REJECTED = "Rejected"
    STALE = "Stale"


class RootCause(StrEnum):
    """The fixed root-cause categories the model may conclude with."""

    INSUFFICIENT_RESOURCES = "InsufficientResources"
    UNSATISFIABLE_SCHEDULING = "UnsatisfiableScheduling"
    IMAGE_PULL = "ImagePull"
    MISSING_CONFIG = "MissingConfig"
    BAD_CONFIG_VALUE = "BadConfigValue"
    DEPENDENCY_UNAVAILABLE = "DependencyUnavailable"
    OOM_KILLED = "OOMKilled"
    PROBE_FAILURE = "ProbeFailure"
    APPLICATION_ERROR = "ApplicationError"
    UNKNOWN = "Unknown"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


def _unique(items: list[Any]) -> list[Any]:
    if len(set(items)) != len(items):
        raise ValueError("items must be unique")
    return items


def _unique_condition_types(conditions: list[Condition]) -> list[Condition]:
    _unique([condition.type for condition in conditions])
    return conditions


# `x-kubernetes-list-type: set` in the CRD: the server refuses duplicates, and so do we.
# Use both together: Annotated[list[X], Field(..., json_schema_extra=SET_LIST), UNIQUE].
SET_LIST = {"x-kubernetes-list-type": "set"}
UNIQUE = AfterValidator(_unique)

DnsLabel = Annotated[str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
DnsSubdomain = Annotated[
    str,
    StringConstraints(
        max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ),
]
Uid = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ModelName = Annotated[str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$")]
# A Go-style duration as Kubernetes writes them ("90s", "2m", "1h30m"); see `parse_duration`.
Duration = Annotated[str, StringConstraints(max_length=32, pattern=r"^([0-9]+(ms|s|m|h))+$")]

_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_DURATION_UNIT = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}


def parse_duration(text: str) -> timedelta:
    """Turn a validated `Duration` ("1h30m") into a timedelta, as Go's time.ParseDuration would."""
    if not re.fullmatch(r"([0-9]+(ms|s|m|h))+", text):
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 2m or 1h30m")
    return sum((int(n) * _DURATION_UNIT[unit] for n, unit in _DURATION_PART.findall(text)), timedelta())


class Condition(ApiModel):
    """metav1.Condition, with a shorter message so reports stay small."""

    type: Annotated[
        str,
        StringConstraints(
            max_length=316,
            pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        ),
    ]
    status: ConditionStatus
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    last_transition_time: datetime
    reason: Annotated[
        str,
        StringConstraints(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
    ]
    message: Annotated[str, StringConstraints(max_length=1024)]


Conditions = Annotated[
    list[Condition],
    Field(
        max_length=8,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
    AfterValidator(_unique_condition_types),
]


class ObjectMeta(BaseModel):
    """The metadata fields smart-sre reads; the API server owns the rest, so they pass through untouched."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: DnsSubdomain
    namespace: DnsLabel | None = None
    uid: Uid | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
