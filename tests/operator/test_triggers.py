"""When a pod fires which trigger, and when a still-young Pending or NotReady one is due."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from smart_sre.api.common import Trigger
from smart_sre.api.debugpolicy import DebugPolicySpec
from smart_sre.lifecycle.triggers import evaluate

from .pods import pod
from .test_lifecycle import quiet_controller

NOW = datetime(2026, 1, 5, 10, 10, tzinfo=UTC)
ALL = frozenset(Trigger)
GRACE = timedelta(minutes=2)


@pytest.mark.parametrize(
    ("body", "trigger"),
    [
        (pod(waiting="CrashLoopBackOff"), Trigger.CRASH_LOOP_BACK_OFF),
        (pod(waiting="ImagePullBackOff"), Trigger.IMAGE_PULL_BACK_OFF),
        (pod(waiting="ErrImagePull"), Trigger.IMAGE_PULL_BACK_OFF),
        (pod(waiting="CreateContainerConfigError"), Trigger.CREATE_CONTAINER_CONFIG_ERROR),
        (pod(last_terminated="OOMKilled"), Trigger.OOM_KILLED),
        (pod(phase="Pending", unschedulable_since="2026-01-05T10:00:00Z"), Trigger.PENDING),
    ],
)
def test_each_failure_fires_its_trigger(body, trigger):
    verdict = evaluate(body, ALL, pending_grace=GRACE, now=NOW)
    assert verdict.detection is not None
    assert verdict.detection.trigger is trigger


def test_oomkilled_in_crashloop_is_named_oomkilled_when_enabled_else_crashloop():
    body = pod(waiting="CrashLoopBackOff", last_terminated="OOMKilled")
    assert evaluate(body, ALL, pending_grace=GRACE, now=NOW).detection.trigger is Trigger.OOM_KILLED
    only_crashloop = {Trigger.CRASH_LOOP_BACK_OFF, Trigger.PENDING}
    assert (
        evaluate(body, only_crashloop, pending_grace=GRACE, now=NOW).detection.trigger
        is Trigger.CRASH_LOOP_BACK_OFF
    )


def test_disabled_trigger_does_not_fire():
    body = pod(waiting="ImagePullBackOff")
    assert evaluate(body, {Trigger.CRASH_LOOP_BACK_OFF}, pending_grace=GRACE, now=NOW).detection is None


def test_young_pending_pod_is_due_after_grace_period():
    body = pod(phase="Pending", unschedulable_since="2026-01-05T10:09:30Z")
    verdict = evaluate(body, ALL, pending_grace=GRACE, now=NOW)
    assert verdict.detection is None
    assert verdict.due_at == datetime(2026, 1, 5, 10, 11, 30, tzinfo=UTC)


def test_healthy_and_deleting_pods_fire_nothing():
    assert evaluate(pod(), ALL, pending_grace=GRACE, now=NOW).detection is None
    assert (
        evaluate(pod(waiting="CrashLoopBackOff", deleting=True), ALL, pending_grace=GRACE, now=NOW).detection
        is None
    )


def test_pending_without_unschedulable_condition_is_not_a_problem():
    body = pod(phase="Pending")
    body["status"].pop("containerStatuses")
    assert evaluate(body, ALL, pending_grace=GRACE, now=NOW) == evaluate(
        pod(), ALL, pending_grace=GRACE, now=NOW
    )


# --- NotReady: Running, a started container not Ready, for longer than the grace period ------------------


def _running(
    name: str, *, ready: bool = False, started: bool = True, since: str = "2026-01-05T10:00:00Z"
) -> dict:
    """A container status as the kubelet writes it for a running container (no restarts)."""
    return {
        "name": name,
        "ready": ready,
        "started": started,
        "restartCount": 0,
        "state": {"running": {"startedAt": since}},
    }


def _serving(
    *statuses: dict,
    sidecars: tuple[dict, ...] = (),
    phase: str = "Running",
    unready_since: str | None = "2026-01-05T10:00:00Z",
    deleting: bool = False,
    name: str = "web-7d9c-abcde",
    owner: tuple[str, str] | None = ("ReplicaSet", "web-7d9c"),
) -> dict:
    """A scheduled pod with these container statuses and the kubelet's Ready condition for them."""
    body = pod(name, phase=phase, deleting=deleting, owner=owner)
    unready = [s["name"] for s in (*sidecars, *statuses) if not s["ready"]]
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-05T10:00:00Z"}
    if unready and unready_since:
        ready = {
            "type": "Ready",
            "status": "False",
            "reason": "ContainersNotReady",
            "message": f"containers with unready status: [{' '.join(unready)}]",
            "lastTransitionTime": unready_since,
        }
    body["status"] = {
        "phase": phase,
        "conditions": [ready],
        "containerStatuses": list(statuses),
        **({"initContainerStatuses": list(sidecars)} if sidecars else {}),
    }
    return body


NOT_READY_ONLY = frozenset({Trigger.NOT_READY})


@pytest.mark.parametrize(
    ("minutes", "started_at"),
    [(1, "2026-01-05T10:09:00Z"), (0, "2026-01-05T10:10:00Z"), (1.5, "2026-01-05T10:08:30Z")],
)
def test_a_container_not_ready_within_the_grace_period_is_due_when_the_grace_ends(minutes, started_at):
    body = _serving(_running("api", since=started_at), unready_since=started_at)
    verdict = evaluate(body, NOT_READY_ONLY, pending_grace=GRACE, now=NOW)
    assert verdict.detection is None
    assert verdict.due_at == NOW - timedelta(minutes=minutes) + GRACE


@pytest.mark.parametrize(
    ("container", "pod_name", "grace"),
    [
        ("api", "checkout-5f6d-x1", GRACE),
        ("nginx", "frontend-77c-k2", timedelta(minutes=5)),
        ("worker", "jobs-runner-0", timedelta(0)),
    ],
)
def test_a_container_not_ready_past_the_grace_period_fires_not_ready(container, pod_name, grace):
    body = _serving(_running(container), name=pod_name)
    verdict = evaluate(body, ALL, pending_grace=grace, now=NOW)
    assert verdict.detection is not None
    assert verdict.detection.trigger is Trigger.NOT_READY
    assert verdict.detection.container == container
    assert verdict.detection.reason == "ContainersNotReady"
    assert f"container {container!r} runs without passing its readiness probe since 2026-01-05T10:00:00Z" in (
        verdict.detection.message
    )
    assert f"containers with unready status: [{container}]" in verdict.detection.message


def test_the_grace_counts_from_the_later_of_the_container_start_and_the_pod_turning_not_ready():
    # Ready until 10:09 (a dependency its readiness probe checks went away): not yet due.
    was_ready = _serving(_running("api"), unready_since="2026-01-05T10:09:00Z")
    assert evaluate(was_ready, ALL, pending_grace=GRACE, now=NOW).due_at == datetime(
        2026, 1, 5, 10, 11, tzinfo=UTC
    )
    # Restarted at 10:09 (say by its liveness probe): the clock starts again with the new run.
    restarted = _serving(_running("api", since="2026-01-05T10:09:00Z"), unready_since="2026-01-05T09:00:00Z")
    assert evaluate(restarted, ALL, pending_grace=GRACE, now=NOW).due_at == datetime(
        2026, 1, 5, 10, 11, tzinfo=UTC
    )


def test_a_terminating_pod_fires_nothing_and_is_not_due():
    verdict = evaluate(_serving(_running("api"), deleting=True), ALL, pending_grace=GRACE, now=NOW)
    assert verdict == evaluate(pod(), ALL, pending_grace=GRACE, now=NOW)
    assert (verdict.detection, verdict.due_at) == (None, None)


def test_a_completed_job_pod_fires_nothing():
    done = {
        "name": "migrate",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"terminated": {"reason": "Completed", "exitCode": 0}},
    }
    body = _serving(done, phase="Succeeded", unready_since="2026-01-05T09:00:00Z")
    body["status"]["conditions"][0]["reason"] = "PodCompleted"
    verdict = evaluate(body, ALL, pending_grace=GRACE, now=NOW)
    assert (verdict.detection, verdict.due_at) == (None, None)
    # A finished main container beside a sidecar still running: nothing of it runs not Ready either.
    sidecar = _running("log-shipper", ready=True)
    assert evaluate(_serving(done, sidecars=(sidecar,)), ALL, pending_grace=GRACE, now=NOW).detection is None


def test_a_pod_ready_again_fires_nothing_and_is_not_due():
    body = _serving(_running("api", ready=True), _running("proxy", ready=True))
    verdict = evaluate(body, ALL, pending_grace=GRACE, now=NOW)
    assert (verdict.detection, verdict.due_at) == (None, None)


def test_of_several_containers_the_one_not_ready_is_named():
    body = _serving(_running("proxy", ready=True), _running("orders"), _running("metrics", ready=True))
    verdict = evaluate(body, ALL, pending_grace=GRACE, now=NOW)
    assert verdict.detection is not None
    assert verdict.detection.container == "orders"
    assert "[orders]" in verdict.detection.message


def test_of_several_unready_containers_the_one_past_its_grace_fires():
    body = _serving(
        _running("cache", since="2026-01-05T10:09:30Z"),  # restarted recently: its own clock is young
        _running("orders", since="2026-01-05T10:00:00Z"),
        unready_since="2026-01-05T10:00:00Z",
    )
    assert evaluate(body, ALL, pending_grace=GRACE, now=NOW).detection.container == "orders"
    young = _serving(
        _running("cache", since="2026-01-05T10:09:30Z"),
        _running("orders", since="2026-01-05T10:08:45Z"),
        unready_since="2026-01-05T10:08:45Z",
    )
    assert evaluate(young, ALL, pending_grace=GRACE, now=NOW).due_at == datetime(
        2026, 1, 5, 10, 10, 45, tzinfo=UTC
    )


def test_a_sidecar_not_ready_fires_not_ready():
    body = _serving(_running("app", ready=True), sidecars=(_running("envoy"),))
    assert evaluate(body, ALL, pending_grace=GRACE, now=NOW).detection.container == "envoy"


def test_a_container_no_readiness_probe_holds_fires_nothing():
    """Without a readiness probe the kubelet reports a started container Ready at once; one whose startup
    probe has not passed yet (started false) is the startup probe's business, not readiness's."""
    starting = _serving(_running("jvm", started=False))
    assert evaluate(starting, ALL, pending_grace=GRACE, now=NOW) == evaluate(
        pod(), ALL, pending_grace=GRACE, now=NOW
    )
    assert (
        evaluate(_serving(_running("jvm", ready=True)), ALL, pending_grace=GRACE, now=NOW).detection is None
    )


def test_not_ready_is_opt_in_and_the_least_specific():
    body = _serving(_running("api"))
    default = DebugPolicySpec.model_validate({"rules": [{"namespaces": ["shop"]}]})
    assert Trigger.NOT_READY not in default.triggers
    verdict = evaluate(body, set(default.triggers), pending_grace=GRACE, now=NOW)
    assert (verdict.detection, verdict.due_at) == (None, None)
    crashing = _serving(_running("api"))
    crashing["status"]["containerStatuses"].append(
        {
            "name": "sidecar",
            "ready": False,
            "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        }
    )
    assert (
        evaluate(crashing, ALL, pending_grace=GRACE, now=NOW).detection.trigger is Trigger.CRASH_LOOP_BACK_OFF
    )
    every = DebugPolicySpec.model_validate({"rules": [{"namespaces": ["shop"]}], "triggers": list(Trigger)})
    assert Trigger.NOT_READY in every.triggers


async def test_the_controller_looks_again_when_the_grace_ends_and_opens_only_for_a_pod_still_not_ready():
    """A pod failing only its readiness probe sends no event once its grace starts: the controller's
    re-check at the verdict's due time opens the report, from the slim pod it caches; a pod that turns
    Ready meanwhile opens nothing."""
    clock = [NOW]
    controller, opener = quiet_controller("NotReady", lambda: clock[0])
    started = f"{NOW:%Y-%m-%dT%H:%M:%SZ}"
    for name in ("stuck-1", "warming-1"):
        await controller.on_pod(
            "ADDED", _serving(_running("api", since=started), unready_since=started, name=name, owner=None)
        )
    assert opener.asked == []
    await controller.on_pod("MODIFIED", _serving(_running("api", ready=True), name="warming-1", owner=None))
    clock[0] = NOW + timedelta(seconds=2)
    await asyncio.sleep(1.8)  # the re-check fires half a second after the 1 s grace
    assert opener.asked == ["stuck-1"]
    await controller.close()
