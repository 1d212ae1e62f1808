"""Container logs, kept per container run ("attempt") the way a kubelet keeps the current and previous one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from .errors import bad_request

_MAX_LINES_PER_ATTEMPT = 5000


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
