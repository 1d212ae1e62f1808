"""Changes since the last healthy revision: each changed field of the pod template is a candidate cause,
and reverting that field alone (to the value the healthy revision ran with) a candidate fix.

A change is a prior, not a verdict: it scores below every analyzer that shows a mechanism with direct
facts (0.6 and up), so when both point at the same field the mechanism's candidate leads, and above the
bare "exits with code N" (0.3), so a change leads when nothing else explains the failure. Every field
gets the same score, so the model can judge between them, except that a field the failing pod's own
messages quote scores a little higher, and a field scores lowest when it cannot produce the trigger
(only an image makes an image pull fail; only pod-level fields, resources and ports keep a pod
Pending), when it is the template's metadata (which no patch may change), or when pods of the failing
revision run Ready with it. Reverts are built on the live owner's template and only when it still holds
the failing value; `patch_safety` vets them like any other fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonpointer

from smart_sre.api.common import RootCause, Trigger
from smart_sre.investigation.analyzers.base import Candidate, ProposedPatch, quote, template_target
from smart_sre.investigation.changes import FieldChange, WhatChanged, value_at
from smart_sre.investigation.evidence import Evidence

CHANGED = 0.45
QUOTED = 0.55  # the failing pod's messages or logs quote the new value
UNLIKELY = 0.2  # cannot produce the trigger, or metadata no patch may revert
_MIN_QUOTED = 4  # shorter values ("app", "1") show up in any text

# What a changed field points at, by the field's name (a container's or the pod spec's).
_IMAGE = frozenset({"image", "imagePullPolicy", "imagePullSecrets"})
_CONFIG = frozenset({"env", "envFrom", "volumeMounts", "volumes"})
_PROBES = frozenset({"livenessProbe", "readinessProbe", "startupProbe"})
_PROGRAM = frozenset({"command", "args", "workingDir"})
_PLACEMENT = frozenset(
    {"nodeSelector", "affinity", "tolerations", "topologySpreadConstraints", "nodeName", "schedulerName"}
)
_TRIGGER_CAUSE = {
    Trigger.PENDING: RootCause.UNSATISFIABLE_SCHEDULING,
    Trigger.IMAGE_PULL_BACK_OFF: RootCause.IMAGE_PULL,
    Trigger.OOM_KILLED: RootCause.OOM_KILLED,
    Trigger.CREATE_CONTAINER_CONFIG_ERROR: RootCause.MISSING_CONFIG,
    Trigger.CRASH_LOOP_BACK_OFF: RootCause.APPLICATION_ERROR,
    # A changed probe is a ProbeFailure by its field; any other change makes the app itself not answer.
    Trigger.NOT_READY: RootCause.APPLICATION_ERROR,
}
# Container fields that can keep a container from being created (CreateContainerConfigError).
_CONTAINER_CONFIG = frozenset({"env", "envFrom", "volumeMounts", "securityContext", "image"})


def analyze(evidence: Evidence) -> list[Candidate]:
    return [candidate for _, candidate in reverts(evidence)]


def reverts(evidence: Evidence) -> list[tuple[FieldChange, Candidate]]:
    """Each changed field with its candidate: `analyzers.candidates` weighs a mechanism's fix of a field
    against the value the healthy revision ran, so it needs to know which change each revert undoes."""
    changes = evidence.changes
    if changes is None:
        return []
    texts = _failure_texts(evidence)
    return [(change, _candidate(evidence, changes, change, texts)) for change in changes.fields]


def observed(changes: WhatChanged) -> bool:
    """Whether pods were seen healthy on the healthy revision (Ready now, or a completed StatefulSet
    rollout), rather than it being assumed as the revision before the failing one."""
    return changes.observed


def _field(path: str) -> tuple[str, bool]:
    """(the changed field's name, whether it is a container's): /spec/containers/0/env/2 -> env."""
    parts = jsonpointer.JsonPointer(path).parts
    if len(parts) >= 4 and parts[0] == "spec" and parts[1] in ("containers", "initContainers"):
        return parts[3], True
    return (parts[1] if len(parts) > 1 else parts[0]), False


def root_cause(path: str, trigger: Trigger) -> RootCause:
    """The root-cause family a change of this field belongs to, for this trigger."""
    name, _ = _field(path)
    default = _TRIGGER_CAUSE[trigger]
    if name in _IMAGE:
        return RootCause.IMAGE_PULL if trigger == Trigger.IMAGE_PULL_BACK_OFF else default
    if name in _CONFIG:
        return (
            default
            if trigger in (Trigger.PENDING, Trigger.CREATE_CONTAINER_CONFIG_ERROR)
            else RootCause.BAD_CONFIG_VALUE
        )
    if name == "resources":
        return RootCause.INSUFFICIENT_RESOURCES if trigger == Trigger.PENDING else default
    if name in _PROBES:
        return RootCause.PROBE_FAILURE
    if name in _PROGRAM:
        return RootCause.APPLICATION_ERROR
    if name in _PLACEMENT:
        return RootCause.UNSATISFIABLE_SCHEDULING
    return default


def _can_cause(path: str, trigger: Trigger) -> bool:
    """False only where the field surely cannot produce the trigger."""
    if path.startswith("/metadata"):
        return False
    name, in_container = _field(path)
    if trigger == Trigger.IMAGE_PULL_BACK_OFF:
        return name in _IMAGE
    if trigger == Trigger.PENDING:
        return not in_container or name in ("resources", "ports")
    if trigger == Trigger.CREATE_CONTAINER_CONFIG_ERROR:
        return not in_container or name in _CONTAINER_CONFIG
    return True


def _failure_texts(evidence: Evidence) -> list[str]:
    """What the failing pod says: container state messages, events, log lines."""
    status = evidence.pod.get("status") or {}
    texts = []
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        for state in (cs.get("state") or {}, cs.get("lastState") or {}):
            texts += [(detail or {}).get("message", "") for detail in state.values()]
    texts += [event.get("message", "") for event in evidence.events]
    texts += evidence.log_text().splitlines()
    return [text for text in texts if text]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def distinct_strings(value: Any, other: Any) -> set[str]:
    """The strings of `value` (long enough to mean something in a text) that `other` does not hold."""
    return {text for text in _strings(value) if len(text) >= _MIN_QUOTED} - set(_strings(other))


def _quoted(change: FieldChange, texts: list[str]) -> str | None:
    """The first text that quotes a string the change brought in."""
    brought = distinct_strings(change.new, change.old)
    return next((text for text in texts if any(word in text for word in brought)), None)


def _revert(
    evidence: Evidence, change: FieldChange, revision: int
) -> tuple[ProposedPatch | None, str | None]:
    """The patch that puts back the healthy value of this field only, or why there is none."""
    if change.path.startswith("/metadata"):
        return None, "the pod template's labels and annotations are not patched; revert it by hand if needed"
    if change.old_redacted:
        return None, "the earlier value looks like a secret, so it is not written into a patch"
    target, spec_pointer, _ = template_target(evidence)
    pointer = spec_pointer.removesuffix("/spec") + change.path  # the pod template's, in the owner
    if value_at(evidence.top_owner, pointer) != change.new:
        return None, f"{target}'s template no longer holds revision {revision}'s value; revert by hand"
    if change.old is None:
        operation = {"op": "remove", "path": pointer}
    elif change.new is None:
        operation = {"op": "add", "path": pointer, "value": change.old}
    else:
        operation = {"op": "replace", "path": pointer, "value": change.old}
    return ProposedPatch(target, [operation]), None


def _candidate(evidence: Evidence, changes: WhatChanged, change: FieldChange, texts: list[str]) -> Candidate:
    said = _quoted(change, texts)
    likely = _can_cause(change.path, evidence.trigger) and not changes.failing_ready
    score = (QUOTED if said else CHANGED) if likely else UNLIKELY
    patch, reason = _revert(evidence, change, changes.revision)
    old, new = quote(change.old_text or "unset", 80), quote(change.new_text or "unset", 80)
    fix = ""
    if patch:
        fix = (
            " Revert it, and only it: unset it again."
            if change.old is None
            else f" Revert it, and only it, to {old}."
        )
    subject = quote(change.subject[:1].upper() + change.subject[1:], 100)
    facts = [
        f"{change.subject}: {old} -> {new} in revision {change.revision}",
        f"revision {changes.healthy_revision} ran healthy: {changes.healthy}",
    ]
    if changes.failing_ready:
        facts.append(f"{changes.failing_ready} pod(s) of revision {changes.revision} run Ready with it")
    if said:
        facts.append(quote(said))
    return Candidate(
        root_cause=root_cause(change.path, evidence.trigger),
        summary=(
            f"{subject} changed from {old} to {new} in revision "
            f"{change.revision}; revision {changes.healthy_revision} ran healthy.{fix}"
        ),
        score=score,
        patch=patch,
        facts=tuple(facts),
        no_patch_reason=reason,
    )
