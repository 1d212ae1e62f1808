"""Decide from a Pod alone whether it is failing in a way a policy asked us to investigate.

Pure functions over the Pod as the API server returns it, so the same verdict comes out of a watch
event, a re-list after a restart, or a unit test. When several triggers match (an OOMKilled container
is usually also in CrashLoopBackOff) the most specific enabled one wins, so a report names the cause
a human would name first. No container spec is read: the controller caches pods without them.

The controller calls `evaluate` on every pod event and again at a verdict's `due_at`: a pod that stays
unschedulable, or runs without ever passing its readiness probe, sends no further event once its grace
period starts.
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
    # Least specific: a failing readiness probe is often a symptom (a dependency down, a slow start).
    Trigger.NOT_READY,
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
    """What the pod shows now: a detection, or the moment a still-young Pending or NotReady pod becomes
    due."""

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


def _unready_since(pod: Mapping[str, Any], ready: Mapping[str, Any]) -> Iterator[tuple[str, datetime]]:
    """(container, since when) for each container that runs, has started, and is not Ready.

    The kubelet reports a started container without a readiness probe as Ready at once, so such a
    container is failing (or has not yet passed) its readiness probe; one not yet started is the
    startup probe's business, and one that restarts starts its clock again. A pod that is not Running
    (a completed Job's pod is Succeeded) fires nothing.
    """
    if (pod.get("status") or {}).get("phase") != "Running":
        return
    unready = parse_time(ready.get("lastTransitionTime")) if ready.get("status") == "False" else None
    created = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
    for cs in _container_statuses(pod):
        running = (cs.get("state") or {}).get("running")
        if running is None or cs.get("started") is not True or cs.get("ready") is not False:
            continue
        known = [t for t in (parse_time(running.get("startedAt")), unready, created) if t is not None]
        yield cs.get("name", ""), max(known, default=datetime.now(UTC))


def _not_ready(pod: Mapping[str, Any], grace: timedelta, now: datetime) -> Verdict:
    """The first container not Ready for longer than `grace`, else when the next one will have been."""
    conditions = (pod.get("status") or {}).get("conditions") or ()
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    due: list[datetime] = []
    for name, since in _unready_since(pod, ready):
        if now - since < grace:
            due.append(since + grace)
            continue
        message = (
            f"container {name!r} runs without passing its readiness probe since {since:%Y-%m-%dT%H:%M:%SZ}"
        )
        if ready.get("message"):
            message += f" ({ready['message']})"
        return Verdict(Detection(Trigger.NOT_READY, ready.get("reason") or "NotReady", message, name))
    return Verdict(due_at=min(due, default=None))


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
    """The trigger this pod fires under a policy's enabled triggers, or when a Pending or NotReady one
    will be due; `pending_grace` is the policy's pendingGracePeriod, the wait for both.

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
    if Trigger.NOT_READY in enabled:
        not_ready = _not_ready(pod, pending_grace, now)
        if not_ready.detection is not None:
            found[Trigger.NOT_READY] = not_ready.detection
        elif not_ready.due_at is not None:
            due_at = min(due_at or not_ready.due_at, not_ready.due_at)
    for trigger in PRECEDENCE:
        if trigger in enabled and trigger in found:
            return Verdict(detection=found[trigger])
    return Verdict(due_at=due_at)
