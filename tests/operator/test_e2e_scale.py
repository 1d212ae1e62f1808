"""A burst: 200 failing pods of 40 Deployments at once give exactly 40 reports, none duplicated."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from . import scenario

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEPLOYMENTS = 40
REPLICAS = 5


def test_two_hundred_failing_pods_of_forty_deployments_give_forty_reports(sandbox, operator_process):
    operator_process.start().wait_alive()
    workloads = [
        scenario.crashing_client(f"svc-{index:02d}", replicas=REPLICAS) for index in range(DEPLOYMENTS)
    ]
    sandbox.run(sandbox.sandbox.apply([scenario.policy(), *workloads]), timeout=120)

    def crashing() -> int:
        pods = sandbox.list("pods", "default")
        return sum("CrashLoopBackOff" in str(pod["status"]) for pod in pods)

    sandbox.wait_for(lambda: crashing() == DEPLOYMENTS * REPLICAS, timeout=180, interval=1)
    sandbox.wait_for(
        lambda: len(sandbox.list("diagnosticreports", "default")) >= DEPLOYMENTS, timeout=120, interval=1
    )
    time.sleep(5)  # let every replica's later events arrive: none may open another report

    reports = sandbox.list("diagnosticreports", "default")
    owners = Counter(report["spec"]["workloadRef"]["name"] for report in reports)
    assert len(reports) == DEPLOYMENTS
    assert set(owners) == {f"svc-{index:02d}" for index in range(DEPLOYMENTS)}
    assert set(owners.values()) == {1}
    operator_process.stop()
