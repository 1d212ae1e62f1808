"""Readiness, liveness and startup probes against what a running container really listens to and contains.

The kubelet (kubelet.py) asks `plan` what the probes of one container run do over time, the way the
kubelet's prober workers tick: a startup probe gates the others (until it passes, liveness and readiness
do not run and the container is neither started nor Ready); `failureThreshold` consecutive failures of a
startup or liveness probe kill the container; readiness needs `successThreshold` passes in a row to turn
Ready and `failureThreshold` failures in a row to turn unready again. A program answers only from its
`serves_at` on (its image's start_seconds after it started): before then every probe that reaches its
port fails like a connection refused. An exec probe runs its command through the container's shell
(shell.exec_in) with the image's tools, against the container's files as they were at that tick (the
run's file timeline: `touch /tmp/healthy; sleep 30; rm /tmp/healthy` passes for 30 s, then fails).

What a probe finds changes only at a few moments (the program starts serving, a file the probe reads
changes), so each probe's ticks are a `Series` of outcomes from those moments on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from . import shell
from .files import Filesystem
from .images import Container, ImageSpec, Run
from .network import Network

DEFAULT_PERIOD = 10.0
DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_TIMEOUT = 1.0
NEVER = math.inf
_EPSILON = 1e-9  # ticks computed by float arithmetic land on a moment, not just after it

Outcome = tuple[float, bool, str]  # from this moment on: passed, and the kubelet's failure text


@dataclass(frozen=True)
class Timing:
    initial_delay: float
    period: float
    failure_threshold: int
    success_threshold: int = 1

    @classmethod
    def of(cls, probe: dict) -> Timing:
        return cls(
            float(probe.get("initialDelaySeconds", 0)),
            float(probe.get("periodSeconds", DEFAULT_PERIOD)),
            int(probe.get("failureThreshold", DEFAULT_FAILURE_THRESHOLD)),
            int(probe.get("successThreshold", 1)),
        )


def _ticks_before(first: float, period: float, moment: float) -> float:
    """How many ticks of `first`, `first + period`, ... come strictly before `moment` (NEVER: all)."""
    if moment == NEVER:
        return NEVER
    return max(0, math.ceil((moment - first) / period - _EPSILON))


def tick_from(first: float, period: float, moment: float) -> float:
    """The first tick of `first`, `first + period`, ... at or after `moment`."""
    return first + _ticks_before(first, period, moment) * period


@dataclass(frozen=True)
class Streak:
    """Ticks `start` to `end` (exclusive; NEVER: on and on) of a series that all pass or all fail."""

    start: float
    end: float
    passed: bool
    text: str = ""

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Series:
    """One probe worker's ticks over a container run (`first`, `first + period`, ...) and what each finds:
    `outcomes` (moment, passed, failure text) in time order, each holding from its moment on."""

    first: float
    period: float
    outcomes: tuple[Outcome, ...]

    def time_of(self, tick: float) -> float:
        return self.first + tick * self.period

    def _tick_at(self, moment: float) -> float:
        """The number of the last tick at or before `moment` (-1: none yet)."""
        if moment == NEVER:
            return NEVER
        return math.floor((moment - self.first) / self.period + _EPSILON)

    def streaks(self) -> list[Streak]:
        """The ticks grouped by outcome, in order (a streak per outcome that holds at some tick)."""
        found: list[Streak] = []
        for index, (moment, passed, text) in enumerate(self.outcomes):
            start = _ticks_before(self.first, self.period, moment)
            following = self.outcomes[index + 1][0] if index + 1 < len(self.outcomes) else NEVER
            end = _ticks_before(self.first, self.period, following)
            if end > start:
                found.append(Streak(start, end, passed, text))
        return found

    def _runs(self) -> list[Streak]:
        """Streaks merged where passing (or failing) ticks follow each other: failures in a row count
        toward a threshold whatever their text."""
        merged: list[Streak] = []
        for streak in self.streaks():
            if merged and merged[-1].passed == streak.passed:
                merged[-1] = replace(merged[-1], end=streak.end)
            else:
                merged.append(streak)
        return merged

    def failures(self, until: float) -> int:
        """Failed ticks up to and including `until`."""
        last = self._tick_at(until)
        counted = sum(max(0.0, min(s.end, last + 1) - s.start) for s in self.streaks() if not s.passed)
        return int(counted)

    def message(self, index: int) -> str:
        """The failure text of failed tick `index` (from 0)."""
        for streak in self.streaks():
            if streak.passed:
                continue
            if index < streak.length:
                return streak.text
            index -= int(streak.length)
        return ""

    @property
    def passes_from(self) -> float:
        """When it first passes; NEVER when it never does."""
        return next((self.time_of(s.start) for s in self.streaks() if s.passed), NEVER)

    def failure(self, n: int, until: float = NEVER) -> float:
        """When it has failed `n` times in a row for the first time (before `until`); NEVER if it does not."""
        for run in self._runs():
            if not run.passed and run.length >= n:
                moment = self.time_of(run.start + n - 1)
                return moment if moment < until else NEVER
        return NEVER

    def flips(self, to_pass: int, to_fail: int) -> list[tuple[float, bool]]:
        """When a readiness worker turns Ready (`to_pass` passes in a row) and unready again (`to_fail`
        failures in a row), in order, starting unready."""
        changes: list[tuple[float, bool]] = []
        ready = False
        for run in self._runs():
            needed = to_fail if ready else to_pass
            if run.passed != ready and run.length >= needed:
                ready = run.passed
                changes.append((self.time_of(run.start + needed - 1), ready))
        return changes

    def next_failure(self, now: float) -> float:
        """The next failing tick after `now`; NEVER when none."""
        after = self._tick_at(now) + 1
        for streak in self.streaks():
            if not streak.passed and streak.end > after:
                return self.time_of(max(streak.start, after))
        return NEVER


@dataclass(frozen=True)
class Plan:
    """What the probes of one container run do: when the run counts as started (its startup probe passed),
    when it turns Ready and unready (`flips`), when a probe kills it and which, and the ticks of each."""

    started_at: float
    ready_at: float
    kill_at: float
    kill_kind: str
    series: dict[str, Series]
    flips: tuple[tuple[float, bool], ...] = ()

    def ready(self, now: float) -> bool:
        """Whether the readiness probe (or, without one, the start) says Ready at `now`."""
        if "readiness" not in self.series:
            return now >= self.ready_at
        return next((ready for moment, ready in reversed(self.flips) if moment <= now), False)

    def next_event(self, now: float) -> float:
        """The next moment after `now` something changes: a failed tick, the start, readiness, a kill."""
        moments = [self.started_at, self.ready_at, self.kill_at, *(moment for moment, _ in self.flips)]
        moments += [ticks.next_failure(now) for ticks in self.series.values()]
        return min((m for m in moments if m > now), default=NEVER)


@dataclass(frozen=True)
class Inside:
    """What an exec probe runs in: the container as it was started (its env, user, files over time) and
    the cluster's network as it is (the container's own ports left out: `serves_at` decides those)."""

    container: Container
    network: Network


Evaluate = Callable[[float], tuple[bool, str, set]]


def series(
    probe: dict,
    container: dict,
    image: ImageSpec,
    run: Run,
    ip: str,
    first: float,
    serves_at: float,
    start: float = 0.0,
    inside: Inside | None = None,
) -> Series:
    """The ticks of `probe` from `first` on: what it finds at `first`, then again wherever that may change:
    when the program starts serving, and (an exec probe) when a file it reads changes."""
    period = Timing.of(probe).period

    def evaluate(moment: float) -> tuple[bool, str, set]:
        serving = run if moment >= serves_at else replace(run, ports={})
        if "exec" not in probe:
            return (*check(probe, container, image, serving, ip), set())
        files = run.files.as_of(moment - start) if run.files is not None else Filesystem(image.files)
        return (*_exec(probe, image, serving, ip, files, inside), files.reads)

    return Series(first, period, _outcomes(evaluate, first, serves_at, start, run))


def _outcomes(
    evaluate: Evaluate, first: float, serves_at: float, start: float, run: Run
) -> tuple[Outcome, ...]:
    """Outcomes at `first` and at each later moment that may change one: serving, and the changes to the
    paths an evaluation looked at (found again at each moment evaluated, until no new path turns up)."""
    moments, found, looked = {first, *([serves_at] if serves_at > first else [])}, {}, set()
    changes = run.files.changes if run.files is not None else []
    while pending := sorted(moments - set(found)):
        moment = pending[0]
        passed, text, reads = evaluate(moment)
        found[moment] = (passed, text)
        new = reads - looked
        looked |= new
        for change in changes:
            when = start + change.at
            if when > first and any(_touches(change.volume, change.path, read) for read in new):
                moments.add(when)
    outcomes: list[Outcome] = []
    for moment in sorted(found):
        if not outcomes or outcomes[-1][1:] != found[moment]:
            outcomes.append((moment, *found[moment]))
    return tuple(outcomes)


def _touches(volume: str | None, path: str, read: tuple[str | None, str]) -> bool:
    """Whether a change to `path` in `volume` alters what a lookup of `read` finds (itself, or inside it)."""
    return read[0] == volume and (path == read[1] or path.startswith(read[1].rstrip("/") + "/"))


def plan(
    container: dict,
    image: ImageSpec,
    run: Run,
    ip: str,
    start: float,
    serves_at: float,
    inside: Inside | None = None,
) -> Plan:
    """The probes of the container spec `container` over its run started at `start` (simulated seconds).

    Startup and liveness workers first probe one period after `initialDelaySeconds`; readiness is
    probed as soon as its delay is over and the container started, as the kubelet triggers it then.
    """
    found: dict[str, Series] = {}
    started_at, kill_at, kill_kind = start, NEVER, ""

    def ticks(kind: str, probe: dict, first: float) -> Series:
        found[kind] = series(probe, container, image, run, ip, first, serves_at, start, inside)
        return found[kind]

    probe = container.get("startupProbe")
    if probe:
        timing = Timing.of(probe)
        startup = ticks("startup", probe, start + timing.initial_delay + timing.period)
        started_at = startup.passes_from
        kill_at = startup.failure(timing.failure_threshold, until=started_at)
        if kill_at < NEVER:
            started_at, kill_kind = NEVER, "startup"
    probe = container.get("livenessProbe")
    if probe and started_at < NEVER:
        timing = Timing.of(probe)
        first = tick_from(start + timing.initial_delay + timing.period, timing.period, started_at)
        kill_at = ticks("liveness", probe, first).failure(timing.failure_threshold)
        kill_kind = "liveness" if kill_at < NEVER else ""
    ready_at, flips = started_at, ()
    probe = container.get("readinessProbe")
    if probe and started_at < NEVER:
        timing = Timing.of(probe)
        readiness = ticks("readiness", probe, max(start + timing.initial_delay, started_at))
        flips = tuple(readiness.flips(timing.success_threshold, timing.failure_threshold))
        ready_at = next((moment for moment, ready in flips if ready), NEVER)
    return Plan(started_at, ready_at, kill_at, kill_kind, found, flips)


def _port(value: int | str, container: dict) -> int | None:
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    named = next((p for p in container.get("ports") or [] if p.get("name") == value), None)
    return named["containerPort"] if named else None


def _http(run: Run, ip: str, host: str, port: int, path: str) -> tuple[bool, str]:
    url = f"http://{host}:{port}{path}"
    if port not in run.ports:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: connection refused'
    paths = run.ports[port]
    if paths is None:
        return False, f'Get "{url}": net/http: HTTP/1.x transport connection broken: malformed HTTP response'
    if path.split("?")[0] not in paths:
        return False, "HTTP probe failed with statuscode: 404"
    return True, ""


def check(probe: dict, container: dict, image: ImageSpec, run: Run, ip: str) -> tuple[bool, str]:
    """(passed, the kubelet's failure text; an exec probe's output) for one probe of a running container
    (an exec probe: against the files as the run leaves them)."""
    if "exec" in probe:
        files = run.files.as_of(NEVER) if run.files is not None else Filesystem(image.files)
        return _exec(probe, image, run, ip, files, None)
    if "httpGet" in probe:
        action = probe["httpGet"]
        port = _port(action.get("port", 80), container)
        if port is None:
            return False, f"unable to find port {action.get('port')!s}"
        return _http(run, ip, action.get("host") or ip, port, action.get("path") or "/")
    if "tcpSocket" in probe or "grpc" in probe:
        action = probe.get("tcpSocket") or probe["grpc"]
        port = _port(action.get("port", 0), container)
        if port in run.ports:
            return True, ""
        return False, f"dial tcp {ip}:{port}: connect: connection refused"
    return True, ""


def _exec(
    probe: dict, image: ImageSpec, run: Run, ip: str, files: Filesystem, inside: Inside | None
) -> tuple[bool, str]:
    """An exec probe's command in the container with these files: it passes when it exits 0 in time."""
    process = (
        inside.container
        if inside is not None
        else Container("probe", image.repository, [], [], {}, None, "default", ip)
    )
    network = inside.network if inside is not None else Network([], [], {})
    code, output = shell.exec_in(
        image,
        replace(process, files=files),
        network,
        list(probe["exec"].get("command") or []),
        float(probe.get("timeoutSeconds", DEFAULT_TIMEOUT)),
        run.ports,
    )
    return code == 0, output
