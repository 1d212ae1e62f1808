from datetime import UTC, datetime, timedelta

import pytest

from smart_sre.api.common import Trigger
from smart_sre.lifecycle.triggers import evaluate

from .pods import pod

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
