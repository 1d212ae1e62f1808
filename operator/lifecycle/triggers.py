"""Decide from a Pod alone whether it is failing in a way a policy asked us to investigate.

Pure functions over the Pod as the API server returns it, so the same verdict comes out of a watch
event, a re-list after a restart, or a unit test. When several triggers match (an OOMKilled container
is usually also in CrashLoopBackOff) the most specific enabled one wins, so a report names the cause
a human would name first.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smart_sre.api.common import Trigger

# Most specific first: the first enabled trigger that matches names the report.
PRECEDENCE: tuple[Trigger, ...] = (
    Trigger.CREATE_CONTAINER_CONFIG_ERROR,
    Trigger.IMAGE_PULL_BACK_OFF,
    Trigger.OOM_KILLED,
    Trigger.CRASH_LOOP_BACK_OFF,
    Trigger.PENDING,
)

_WAITING_REASONS: dict[str, Trigger] = {
    "CrashLoopBackOff": Trigger.CRASH_LOOP_BACK_OFF,
    "ImagePullBackOff": Trigger.IMAGE_PULL_BACK_OFF,
    "ErrImagePull": Trigger.IMAGE_PULL_BACK_OFF,
    "CreateContainerConfigError": Trigger.CREATE_CONTAINER_CONFIG_ERROR,
}


@dataclass(frozen=True)
class Detection:
    """One reason to open a report: which trigger, on which container, in the cluster's own words."""

    trigger: Trigger
    reason: str
    message: str
    container: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What the pod shows now: a detection, or the moment a still-young Pending pod becomes due."""

    detection: Detection | None = None
    due_at: datetime | None = None


def _container_statuses(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    status = pod.get("status") or {}
    yield from status.get("initContainerStatuses") or ()
    yield from status.get("containerStatuses") or ()


def _container_detections(pod: Mapping[str, Any]) -> Iterator[Detection]:
    for cs in _container_statuses(pod):
        name = cs.get("name")
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        trigger = _WAITING_REASONS.get(waiting.get("reason", ""))
        if trigger is not None:
            yield Detection(trigger, waiting["reason"], waiting.get("message", ""), name)
        for terminated in (state.get("terminated"), (cs.get("lastState") or {}).get("terminated")):
            if terminated and terminated.get("reason") == "OOMKilled":
                message = f"container {name!r} was OOMKilled (exit code {terminated.get('exitCode', 137)})"
                yield Detection(Trigger.OOM_KILLED, "OOMKilled", message, name)
                break


def _unschedulable_since(pod: Mapping[str, Any]) -> tuple[datetime, str] | None:
    status = pod.get("status") or {}
    if status.get("phase") != "Pending" or (pod.get("spec") or {}).get("nodeName"):
        return None
    for condition in status.get("conditions") or ():
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            since = parse_time(condition.get("lastTransitionTime")) or parse_time(
                (pod.get("metadata") or {}).get("creationTimestamp")
            )
            return (since or datetime.now(UTC)), condition.get("message", "")
    return None


def parse_time(value: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp as Kubernetes writes it (`2026-01-05T10:00:00Z`)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def evaluate(
    pod: Mapping[str, Any],
    enabled: Collection[Trigger],
    *,
    pending_grace: timedelta,
    now: datetime,
) -> Verdict:
    """The trigger this pod fires under a policy's enabled triggers, or when a Pending one will be due.

    Pods being deleted fire nothing: their failure is on its way out, not a problem to investigate.
    """
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return Verdict()
    found: dict[Trigger, Detection] = {}
    for detection in _container_detections(pod):
        found.setdefault(detection.trigger, detection)
    due_at: datetime | None = None
    if Trigger.PENDING in enabled and (unschedulable := _unschedulable_since(pod)):
        since, message = unschedulable
        if now - since >= pending_grace:
            found[Trigger.PENDING] = Detection(Trigger.PENDING, "Unschedulable", message)
        else:
            due_at = since + pending_grace
    for trigger in PRECEDENCE:
        if trigger in enabled and trigger in found:
            return Verdict(detection=found[trigger])
    return Verdict(due_at=due_at)
