"""DebugPolicy: which pods smart-sre watches, for which failures, and what it may suggest changing.

Mirrors crds/debugpolicy.yaml; the descriptions live there (`kubectl explain debugpolicy.spec`). The
operator's policy book parses every policy with these models, so a spec the API server would refuse,
or one only Python can judge (a redaction pattern that does not compile), makes the policy not Ready
instead of failing later in every report.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

import re2
from pydantic import AfterValidator, Field, StringConstraints, model_validator

from smart_sre.api.common import (
    API_VERSION,
    SET_LIST,
    UNIQUE,
    ApiModel,
    Conditions,
    DnsLabel,
    DnsSubdomain,
    ModelName,
    ObjectMeta,
    Trigger,
    parse_duration,
)

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"  # models.lock's default

# Paths under a workload's pod template; a '*' stands for exactly one segment (a container index).
_CONTAINER = "/spec/template/spec/containers/*"
_INIT_CONTAINER = "/spec/template/spec/initContainers/*"
_VOLUME = "/spec/template/spec/volumes/*"
DEFAULT_ALLOWED_PATHS = (
    f"{_CONTAINER}/image",
    f"{_CONTAINER}/env",
    f"{_CONTAINER}/envFrom",
    f"{_INIT_CONTAINER}/env",
    f"{_INIT_CONTAINER}/envFrom",
    # What an init container runs, like an app container's: a fix of its image tag or start command.
    f"{_INIT_CONTAINER}/image",
    f"{_INIT_CONTAINER}/command",
    f"{_INIT_CONTAINER}/args",
    f"{_CONTAINER}/resources",
    f"{_CONTAINER}/command",
    f"{_CONTAINER}/args",
    f"{_CONTAINER}/livenessProbe",
    f"{_CONTAINER}/readinessProbe",
    f"{_CONTAINER}/startupProbe",
    # Sidecars (init containers with restartPolicy Always) are probed like app containers.
    f"{_INIT_CONTAINER}/livenessProbe",
    f"{_INIT_CONTAINER}/readinessProbe",
    f"{_INIT_CONTAINER}/startupProbe",
    "/spec/template/spec/nodeSelector",
    "/spec/template/spec/tolerations",
    "/spec/template/spec/affinity",
    # A volume's reference to its ConfigMap or Secret and the keys it maps, nothing else of a volume: the
    # floor still refuses a new or otherwise changed volume and a Secret the workload did not read.
    f"{_VOLUME}/configMap/name",
    f"{_VOLUME}/configMap/items",
    f"{_VOLUME}/secret/secretName",
    f"{_VOLUME}/secret/items",
    f"{_VOLUME}/projected/sources/*/configMap/name",
    f"{_VOLUME}/projected/sources/*/configMap/items",
    f"{_VOLUME}/projected/sources/*/secret/name",
    f"{_VOLUME}/projected/sources/*/secret/items",
)

# Words no allowedPaths pattern may contain (mirrors the CRD's CEL rule): fields a patch may never
# change, so a pattern naming them could only mislead. What a patch may never do is judged by meaning,
# whatever the patterns say, in smart_sre.investigation.patch_safety. The one exception: `volumes` in a
# pattern of a volume's ConfigMap or Secret reference (VOLUME_REFERENCE_RULE).
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
    "nodeName",
    "lifecycle",
    "runtimeClassName",
    "priority",
)

# The shallowest patterns a policy may allow: a named field of a pod spec (`/spec/template/spec/<field>`,
# or `/spec/<field>` of the object itself, where `template` is not a field), and inside a container list a
# named field of a container. The CRD's CEL rule on allowedPaths[] embeds these same expressions.
SPEC_FIELD_RULE = r"^/spec/([^/~*]|~[01])+(/|$)"
TEMPLATE_RULE = r"^/spec/template(/|$)"
TEMPLATE_FIELD_RULE = r"^/spec/template/spec/([^/~*]|~[01])+(/|$)"
WHOLE_CONTAINER_RULE = r"^/spec(/template/spec)?/(containers|initContainers|ephemeralContainers)(/[^/]+)?$"
# The fields of a volume a pattern may name: which ConfigMap or Secret it (or a projected source) reads,
# and its items (key -> path). The CRD's CEL rule on allowedPaths embeds this expression.
VOLUME_REFERENCE_RULE = (
    r"^/spec(/template/spec)?/volumes/[^/]+/(configMap/(name|items)|secret/(secretName|items)|"
    r"projected/sources/[^/]+/(configMap|secret)/(name|items))(/|$)"
)

# A Go duration in canonical order, each number at most 6 digits: it can never overflow (Go's limit is
# about 2,562,047h), so the API server's CEL `duration()` and the operator both parse every accepted value.
DURATION_PATTERN = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?([0-9]{1,6}ms)?$"
# Bounds of each duration (mirrored by the CRD's CEL rules); reportRetention is also at least cooldown.
PENDING_GRACE_MAX = "24h"
COOLDOWN_MIN, COOLDOWN_MAX = "1m", "720h"
RETENTION_MAX = "8760h"


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


class GitOpsManaged(StrEnum):
    """What to do with a fix for a workload Argo CD, Flux or Helm deploys (smart_sre.k8s.gitops):
    Suggest offers it only as a change to commit, Apply also applies it live once approved."""

    SUGGEST = "Suggest"
    APPLY = "Apply"


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


def _deep_enough(pattern: str) -> str:
    """A pattern as broad as /spec or a whole container would open every field below it at once."""
    names_a_field = re.search(SPEC_FIELD_RULE, pattern) and (
        re.search(TEMPLATE_FIELD_RULE, pattern) or not re.search(TEMPLATE_RULE, pattern)
    )
    if not names_a_field or re.search(WHOLE_CONTAINER_RULE, pattern):
        raise ValueError(
            f"{pattern!r} opens too much: a pattern must name a field of the pod spec, e.g. "
            "/spec/template/spec/nodeSelector, and inside containers a field of a container, e.g. "
            "/spec/template/spec/containers/*/image"
        )
    return pattern


PathPattern = Annotated[
    str,
    StringConstraints(min_length=2, max_length=256, pattern=r"^(/([^/~*]|~[01])+|/\*)+$"),
    AfterValidator(_deep_enough),
]


def _within(low: str | None, high: str) -> AfterValidator:
    """A duration between `low` and `high` (inclusive), named in the error so the author knows the range."""

    def check(text: str) -> str:
        value = parse_duration(text)
        if (low is not None and value < parse_duration(low)) or value > parse_duration(high):
            raise ValueError(f"{text} is out of range; write a duration from {low or '0s'} to {high}")
        return text

    return AfterValidator(check)


PolicyDuration = Annotated[str, StringConstraints(min_length=2, max_length=32, pattern=DURATION_PATTERN)]


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
        words = {word for word in FORBIDDEN_PATH_WORDS if word.lower() in lowered}
        if re.search(VOLUME_REFERENCE_RULE, pattern):
            words.discard("volumes")
        if words:
            raise ValueError(
                f"{pattern!r} touches a field smart-sre never patches ({', '.join(FORBIDDEN_PATH_WORDS)})"
            )
    return patterns


# More than this many reviewers per patch would leave reports waiting rather than reviewed.
MAX_REQUIRED_APPROVALS = 5


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
    # A live patch to such a workload is reverted by the next sync or shown as drift: by default the
    # operator refuses to apply it and the fix goes to Git instead.
    git_ops_managed: GitOpsManaged = GitOpsManaged.SUGGEST
    # Four eyes where one pair is not enough: a patch is applied only once this many different people,
    # each allowed to patch the target themselves, approved the same sha256 (spec.approvals).
    required_approvals: Annotated[int, Field(ge=1, le=MAX_REQUIRED_APPROVALS)] = 1


def _compiles(pattern: str) -> str:
    """The redactor compiles every pattern (RE2) for each report; one that cannot would fail them all."""
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options)
    except re2.error as error:
        raise ValueError(
            f"redaction pattern {pattern!r} is not a valid regular expression ({error}); fix or remove it"
        ) from error
    return pattern


class Redaction(ApiModel):
    patterns: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_compiles)]],
        Field(min_length=1, max_length=32),
    ]


class NotificationEvent(StrEnum):
    """The moments of a report a webhook hears about: a decision is wanted, or the outcome of one."""

    AWAITING_APPROVAL = "AwaitingApproval"
    APPLIED = "Applied"
    VERIFIED = "Verified"
    NOT_VERIFIED = "NotVerified"
    FAILED = "Failed"


class WebhookFormat(StrEnum):
    """The body sent: smart-sre's own JSON, or a list of alerts for Alertmanager's POST /api/v2/alerts."""

    JSON = "JSON"
    ALERTMANAGER = "Alertmanager"


# Where a notification may go without leaving the cluster: a Service by its cluster DNS name
# (name.namespace.svc, optionally followed by the cluster domain) or an IP literal (a ClusterIP); any
# other host name would be resolved by DNS outside the cluster. The CRD's CEL rule on url embeds this
# same expression; the operator also refuses IP literals that are globally routable.
WEBHOOK_URL_RULE = (
    r"^https?://([a-z0-9]([-a-z0-9]*[a-z0-9])?\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\.svc(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    r"|[0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9a-fA-F:.]+\])(:[0-9]{1,5})?(/[!-~]*)?$"
)
_IN_CLUSTER_EXAMPLE = "e.g. http://alertmanager.monitoring.svc:9093/api/v2/alerts"


def _stays_in_cluster(url: str) -> str:
    """A webhook is for receivers in the cluster: a Service name or a private address, a real port."""
    if not re.fullmatch(WEBHOOK_URL_RULE, url):
        raise ValueError(
            f"{url!r} is not an in-cluster http(s) URL: name a Service as name.namespace.svc (optionally "
            f"with the cluster domain) or its ClusterIP, without credentials, {_IN_CLUSTER_EXAMPLE}"
        )
    parts = urlsplit(url)
    try:
        host, _port = parts.hostname or "", parts.port  # .port raises for one above 65535
    except ValueError as error:
        raise ValueError(f"{url!r} names a port that does not exist; ports go up to 65535") from error
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url  # a Service name
    if address.is_global:
        raise ValueError(
            f"{url!r} is a public address: notifications never leave the cluster. Point the webhook at a "
            f"Service in the cluster, {_IN_CLUSTER_EXAMPLE}"
        )
    return url


WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=8, max_length=512),
    AfterValidator(_stays_in_cluster),
]


class SecretKeyRef(ApiModel):
    """A key of a Secret in the operator's namespace, mounted into the operator (never read over the API)."""

    name: DnsSubdomain
    key: Annotated[
        str, StringConstraints(max_length=253, pattern=r"^[-._a-zA-Z0-9]*[-_a-zA-Z0-9][-._a-zA-Z0-9]*$")
    ]


class Webhook(ApiModel):
    """One receiver in the cluster; the bearer token, if any, is a file the operator was given."""

    url: WebhookUrl
    secret_ref: SecretKeyRef | None = None
    format: WebhookFormat = WebhookFormat.JSON
    cloud_events: bool = False

    @model_validator(mode="after")
    def _cloud_events_wrap_json(self) -> Webhook:
        if self.cloud_events and self.format is not WebhookFormat.JSON:
            raise ValueError(
                "cloudEvents wraps the JSON format only; Alertmanager reads its own alert list, so drop "
                "cloudEvents or use format JSON"
            )
        return self


class Notifications(ApiModel):
    """Who hears about this policy's reports, and at which of their moments."""

    webhook: Webhook
    events: Annotated[
        list[NotificationEvent], Field(min_length=1, max_length=5, json_schema_extra=SET_LIST), UNIQUE
    ] = Field(default_factory=lambda: list(NotificationEvent))


class DebugPolicySpec(ApiModel):
    rules: Annotated[list[Rule], Field(min_length=1, max_length=32)]
    # Opt-in beyond the two defaults: every trigger at most once.
    triggers: Annotated[
        list[Trigger], Field(min_length=1, max_length=len(Trigger), json_schema_extra=SET_LIST), UNIQUE
    ] = Field(default_factory=lambda: [Trigger.CRASH_LOOP_BACK_OFF, Trigger.PENDING])
    # The wait before a Pending (unschedulable) or NotReady (running, never Ready) pod opens a report.
    pending_grace_period: Annotated[PolicyDuration, _within(None, PENDING_GRACE_MAX)] = "2m"
    cooldown: Annotated[PolicyDuration, _within(COOLDOWN_MIN, COOLDOWN_MAX)] = "10m"
    report_retention: Annotated[PolicyDuration, _within(None, RETENTION_MAX)] = "168h"
    max_concurrent_analyses: Annotated[int, Field(ge=1, le=16)] = 2
    max_steps: Annotated[int, Field(ge=1, le=14)] = 6
    model: ModelName = DEFAULT_MODEL
    remediation: Remediation = Field(default_factory=Remediation)
    redaction: Redaction | None = None
    notifications: Notifications | None = None

    @model_validator(mode="after")
    def _retention_covers_cooldown(self) -> DebugPolicySpec:
        if parse_duration(self.report_retention) < parse_duration(self.cooldown):
            raise ValueError(
                f"reportRetention {self.report_retention} is shorter than cooldown {self.cooldown}: a closed "
                "report enforces the cooldown, so keep reportRetention at least as long"
            )
        return self


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
