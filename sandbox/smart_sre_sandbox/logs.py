"""Container logs, kept per container run ("attempt") the way a kubelet keeps the current and previous one.

The kubelet simulation writes them (sim/kubelet.py); the pods/log route (routes/subresources.py) asks
`log_source` which run a request reads, and `PodLogs.read` for its text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from .errors import bad_request

_MAX_LINES_PER_ATTEMPT = 5000
# What the kubelet says of a container waiting to start with these reasons (validateContainerLogStatus).
_WAITING_WORDS = {
    "ErrImagePull": "image can't be pulled",
    "ImagePullBackOff": "trying and failing to pull image",
}


class LogSource(NamedTuple):
    """The run a log request reads (numbered by restartCount at its start), and whether it still runs."""

    attempt: int
    running: bool


def log_source(pod: dict, container: str, *, previous: bool) -> LogSource | None:
    """Which run of `container` a log request reads, chosen from the pod's status as the kubelet's
    validateContainerLogStatus chooses a container ID: the current run, else the last terminated one.

    None for a pod no node runs yet: the API server then streams nothing. A container with no run to
    read is a BadRequest in the kubelet's words. Runs are numbered by restartCount at their start, so the
    run in lastState is restartCount while the container waits to restart, restartCount - 1 otherwise.
    """
    spec, status, name = pod.get("spec") or {}, pod.get("status") or {}, pod["metadata"]["name"]
    if not spec.get("nodeName"):
        return None
    statuses = [*(status.get("containerStatuses") or []), *(status.get("initContainerStatuses") or [])]
    current = next((s for s in statuses if s.get("name") == container), None)
    if current is None:  # the kubelet has not written it yet: its default waiting reason
        reason = "PodInitializing" if spec.get("initContainers") else "ContainerCreating"
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    state = current.get("state") or {}
    last = (current.get("lastState") or {}).get("terminated") or {}
    count = int(current.get("restartCount") or 0)
    if previous:
        if not last.get("containerID"):
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        return LogSource(count if "waiting" in state else count - 1, running=False)
    if "running" in state or "terminated" in state or last.get("containerID"):
        return LogSource(count, running="running" in state)
    reason = (state.get("waiting") or {}).get("reason")
    if reason is None:
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start - no logs yet')
    words = _WAITING_WORDS.get(reason, reason)
    raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {words}')


def rfc3339_nano(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


class PodLogs:
    """Log lines by (namespace, pod, container, attempt); attempt = restartCount when the run started."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._runs: dict[tuple[str, str, str], dict[int, list[tuple[str, str]]]] = defaultdict(dict)

    def write(self, namespace: str, pod: str, container: str, attempt: int, lines: list[str]) -> None:
        stamp = rfc3339_nano(self._clock())
        run = self._runs[(namespace, pod, container)].setdefault(attempt, [])
        run.extend((stamp, line) for line in lines)
        del run[:-_MAX_LINES_PER_ATTEMPT]

    def read(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        previous: bool = False,
        tail_lines: int | None = None,
        attempt: int | None = None,
        timestamps: bool = False,
    ) -> str:
        """The log text of the current run (or the previous one), newline-terminated like a kubelet's."""
        runs = self._runs.get((namespace, pod, container), {})
        current = attempt if attempt is not None else max(runs, default=0)
        if previous:
            earlier = [a for a in runs if a < current]
            if not earlier:
                raise bad_request(f'previous terminated container "{container}" in pod "{pod}" not found')
            lines = runs[max(earlier)]
        else:
            lines = runs.get(current, [])
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        return "".join(f"{stamp} {line}\n" if timestamps else f"{line}\n" for stamp, line in lines)

    def forget(self, namespace: str, pod: str) -> None:
        for key in [k for k in self._runs if k[0] == namespace and k[1] == pod]:
            del self._runs[key]
