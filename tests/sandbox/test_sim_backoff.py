"""CrashLoopBackOff timing: immediate first restart, then 10s doubling up to five minutes."""

from smart_sre_sandbox.sim import backoff


def test_restart_delay_doubles_from_ten_seconds_to_five_minutes() -> None:
    delays = [backoff.restart_delay(n) for n in range(8)]
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300]
    assert [backoff.describe(d) for d in delays[1:7]] == ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s"]


def test_image_pull_back_off_grows_the_same_way() -> None:
    assert [backoff.pull_delay(n) for n in (1, 2, 3, 9)] == [10, 20, 40, 300]
