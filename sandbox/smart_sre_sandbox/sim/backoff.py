"""The kubelet's restart and image-pull back-off: 10s doubling up to 5 minutes."""

from __future__ import annotations

INITIAL_SECONDS = 10.0
MAX_SECONDS = 300.0
# A container that ran this long without failing starts over at the initial back-off (kubelet: 2 x max).
RESET_AFTER_SECONDS = 2 * MAX_SECONDS


def restart_delay(restart_count: int) -> float:
    """Seconds to wait before the next start of a container that has exited `restart_count + 1` times.

    The first exit restarts at once; afterwards the wait doubles: 10s, 20s, 40s ... capped at 5m.
    """
    if restart_count <= 0:
        return 0.0
    return min(INITIAL_SECONDS * 2 ** (restart_count - 1), MAX_SECONDS)


def pull_delay(failures: int) -> float:
    """Seconds to wait before pulling again after `failures` failed pulls (1 -> 10s, 2 -> 20s ...)."""
    if failures <= 0:
        return 0.0
    return min(INITIAL_SECONDS * 2 ** (failures - 1), MAX_SECONDS)


def describe(seconds: float) -> str:
    """Go's duration text as the kubelet prints it: 10s, 40s, 1m20s, 5m0s."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60}s"
