"""Which DebugPolicies select which pods, and what each policy's status should say.

The controller hands the book every policy the watch delivers; the book parses it once. A policy that
fails to parse (any rule of the CRD, or a redaction pattern that does not compile) or names a model the
sidecar cannot serve is kept as not Ready with the reason, and selects nothing and runs no report: a
broken policy must be visible to its author, never silently half-applied. An update that breaks a
policy replaces it too, so the previous, valid spec does not stay in force unseen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from smart_sre.api.common import Trigger, parse_duration
from smart_sre.api.debugpolicy import DebugPolicy, DebugPolicySpec
from smart_sre.lifecycle import selectors

# Readiness of a policy the operator does not know (never created, or deleted).
REASON_NOT_FOUND = "PolicyNotFound"


@dataclass(frozen=True)
class Readiness:
    """The policy's Ready condition: why it does or does not select pods."""

    ready: bool
    reason: str
    message: str


@dataclass(frozen=True)
class ActivePolicy:
    """A parsed, valid policy with its durations resolved."""

    name: str
    generation: int
    spec: DebugPolicySpec
    triggers: frozenset[Trigger]
    pending_grace: timedelta
    cooldown: timedelta
    retention: timedelta

    @classmethod
    def from_model(cls, policy: DebugPolicy) -> ActivePolicy:
        spec = policy.spec
        return cls(
            name=policy.metadata.name,
            generation=policy.metadata.generation or 0,
            spec=spec,
            triggers=frozenset(spec.triggers),
            pending_grace=parse_duration(spec.pending_grace_period),
            cooldown=parse_duration(spec.cooldown),
            retention=parse_duration(spec.report_retention),
        )

    def selects(self, pod: Mapping[str, Any]) -> bool:
        metadata = pod.get("metadata") or {}
        namespace, labels = metadata.get("namespace"), metadata.get("labels")
        return any(
            namespace in rule.namespaces and selectors.matches(rule.selector, labels)
            for rule in self.spec.rules
        )


@dataclass
class PolicyEntry:
    name: str
    generation: int
    readiness: Readiness
    policy: ActivePolicy | None = None


@dataclass
class PolicyBook:
    """All known policies by name; `known_models` is None when models.lock could not be read."""

    known_models: frozenset[str] | None = None
    entries: dict[str, PolicyEntry] = field(default_factory=dict)

    def upsert(self, body: Mapping[str, Any]) -> PolicyEntry:
        metadata = body.get("metadata") or {}
        name, generation = metadata.get("name", ""), metadata.get("generation") or 0
        try:
            model = DebugPolicy.model_validate(
                {key: body[key] for key in ("metadata", "spec") if key in body}
            )
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg'].removeprefix('Value error, ')}"
                for issue in error.errors()[:4]
            )
            message = f"spec is invalid: {problems}. Fix the spec; until then the policy watches no pods."
            entry = PolicyEntry(name, generation, Readiness(False, "InvalidSpec", message))
        else:
            entry = self._judge(ActivePolicy.from_model(model))
        self.entries[name] = entry
        return entry

    def _judge(self, policy: ActivePolicy) -> PolicyEntry:
        model = policy.spec.model
        if self.known_models is not None and model not in self.known_models:
            known = ", ".join(sorted(self.known_models)) or "none"
            readiness = Readiness(
                False,
                "UnknownModel",
                f"model {model!r} is not in models.lock (known: {known}); pick one of those",
            )
            return PolicyEntry(policy.name, policy.generation, readiness)
        readiness = Readiness(True, "Active", "watching pods for " + ", ".join(sorted(policy.triggers)))
        return PolicyEntry(policy.name, policy.generation, readiness, policy)

    def remove(self, name: str) -> None:
        self.entries.pop(name, None)

    def active(self) -> Iterable[ActivePolicy]:
        return (entry.policy for entry in self.entries.values() if entry.policy is not None)

    def get(self, name: str) -> ActivePolicy | None:
        entry = self.entries.get(name)
        return entry.policy if entry else None

    def readiness(self, name: str) -> Readiness:
        """Whether reports naming policy `name` can be analysed, and if not why: its Ready condition,
        or `PolicyNotFound` for a policy the book does not hold."""
        entry = self.entries.get(name)
        if entry is not None:
            return entry.readiness
        return Readiness(
            False,
            REASON_NOT_FOUND,
            "it does not exist; create it (`kubectl get debugpolicies` lists those there are), "
            "or delete the report if the policy is gone for good",
        )

    def matching(self, pod: Mapping[str, Any]) -> list[ActivePolicy]:
        """Ready policies that select `pod`, by name, so the same pod always picks the same policy first."""
        return sorted(
            (policy for policy in self.active() if policy.selects(pod)), key=lambda policy: policy.name
        )
