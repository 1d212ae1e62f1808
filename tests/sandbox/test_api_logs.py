"""Container logs per run: current, previous, tail, and the kubelet's error for a missing previous run."""

import pytest

from smart_sre_sandbox.errors import ApiError
from smart_sre_sandbox.logs import PodLogs


def test_current_and_previous_runs() -> None:
    logs = PodLogs()
    logs.write("shop", "api", "app", 0, ["first run"])
    logs.write("shop", "api", "app", 1, ["second run", "still second"])
    assert logs.read("shop", "api", "app") == "second run\nstill second\n"
    assert logs.read("shop", "api", "app", tail_lines=1) == "still second\n"
    assert logs.read("shop", "api", "app", previous=True) == "first run\n"
    assert logs.read("shop", "api", "app", attempt=0) == "first run\n"
    assert logs.read("shop", "api", "app", timestamps=True).split(" ", 1)[0].endswith("Z")


def test_previous_without_an_earlier_run_is_a_bad_request() -> None:
    logs = PodLogs()
    logs.write("shop", "api", "app", 0, ["only run"])
    with pytest.raises(ApiError) as info:
        logs.read("shop", "api", "app", previous=True)
    assert (info.value.code, info.value.message) == (
        400,
        'previous terminated container "app" in pod "api" not found',
    )


def test_forget_drops_every_container_of_the_pod() -> None:
    logs = PodLogs()
    logs.write("shop", "api", "app", 0, ["x"])
    logs.write("shop", "api", "sidecar", 0, ["y"])
    logs.forget("shop", "api")
    assert logs.read("shop", "api", "app") == ""
    assert logs.read("shop", "api", "sidecar") == ""
