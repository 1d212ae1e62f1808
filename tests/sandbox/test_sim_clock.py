"""One clock for the whole cluster: every time kubectl shows comes from the simulation's clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from smart_sre_harness.testing import DEFAULT_TIME_SCALE, RunningSandbox
from smart_sre_sandbox.sim.clock import Clock

pytestmark = pytest.mark.kubectl

SIMULATED_NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

CRASHING = """
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
    - name: app
      image: busybox:1.36
      command: ["sh", "-c", "echo starting; exit 1"]
"""


@pytest.fixture
def sandbox_options(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A simulation clock that reads one fixed instant, far from the machine's own time."""
    monkeypatch.setattr(Clock, "wall", lambda self: SIMULATED_NOW)
    return {"time_scale": DEFAULT_TIME_SCALE}


def test_ages_restarts_and_log_stamps_follow_the_simulation_clock(sandbox: RunningSandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=CRASHING)
    sandbox.wait_for(
        lambda: (
            sandbox.get("pods", "default", "crasher")["status"]
            .get("containerStatuses", [{}])[0]
            .get("restartCount", 0)
            >= 1
        )
    )
    pod = sandbox.get("pods", "default", "crasher")
    assert pod["metadata"]["creationTimestamp"] == "2030-01-01T12:00:00Z"
    assert pod["status"]["startTime"] == "2030-01-01T12:00:00Z"
    # AGE and "RESTARTS (... ago)" are computed by the server from the same clock that stamped the pod.
    _, _, _, restarts, *ago, age = sandbox.kubectl("get", "pod", "crasher", "--no-headers").stdout.split()
    assert int(restarts) >= 1
    assert ago == ["(0s", "ago)"]
    assert age == "0s"
    stamped = sandbox.kubectl("logs", "crasher", "--previous", "--timestamps").stdout
    assert stamped.startswith("2030-01-01T12:00:00.")
    assert stamped.rstrip().endswith(" starting")
