"""Failing liveness, readiness and startup probes of every handler (httpGet, tcpSocket, grpc, exec).

The analyzer registry calls `analyze` for every investigation; it yields one candidate per container whose
probes the kubelet reports failing (event field path `spec.containers{name}`), with one patch for all of
that container's failing probes, so a fix never leaves a sibling probe failing the same way.

A fix only uses what the facts show working: a port the app logs (or its server config says) it listens
on, or that answered a probe; a path another probe of the same container passes with while the container
ran, or that its access log shows served. A Service's or Ingress's health path is never proof. Where the
probe's port answers but no served path is known (both probes get 404), the safer form is a `tcpSocket`
check of that port with the same timings; an exec probe whose command the image lacks becomes such a
check of the listening port. A container killed by its liveness (or startup) probe while still starting,
on the port it is configured for, gets a startup probe (or a more patient one) that covers the start-up;
its port is never changed. Anything else is reported as findings that say what is missing.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    CONTAINER_LISTS,
    Candidate,
    ProposedPatch,
    container_pointer,
    failed_container,
    quote,
)
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.listening import (
    Listen,
    configured_listens,
    listening,
    logged_seconds,
    served_paths,
    stated_start_seconds,
)
from smart_sre.investigation.mentions import failed_ports

_EVENT = re.compile(r"\b(?P<kind>Liveness|Readiness|Startup) probe (?:failed|errored):\s*(?P<why>.*)", re.S)
_KILLED = re.compile(r"failed (?P<kind>liveness|startup) probe", re.IGNORECASE)
_IN_BRACES = re.compile(r"\{(?P<name>[^}]*)\}")
_FIELD = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}
_PORT_HANDLERS = ("httpGet", "tcpSocket", "grpc")
_KILL_EXITS = (None, 0, 137, 143)  # a kill (SIGKILL, SIGTERM), or an app that exits 0 when told to stop

# The kubelet's failure texts, by what they show about the probed port.
_STATUS = re.compile(r"statuscode:\s*(?P<code>\d{3})")
_HTTP_TO_HTTPS = re.compile(r"server gave HTTP response to HTTPS client", re.IGNORECASE)
_TLS_REPLY = re.compile(
    r"malformed HTTP[^\n]*\\x15\\x03|first record does not look like a TLS", re.IGNORECASE
)
_NOT_HTTP = re.compile(r"malformed HTTP|HTTP/1\.x transport connection broken", re.IGNORECASE)
_NO_GRPC_HEALTH = re.compile(r"code = Unimplemented|unknown service grpc\.health", re.IGNORECASE)
_GRPC_UNHEALTHY = re.compile(r"NOT_SERVING|SERVICE_UNKNOWN|service unhealthy", re.IGNORECASE)
_UNREACHED = re.compile(
    r"connection refused|i/o timeout|context deadline exceeded|Client\.Timeout|timeout: failed to connect|"
    r"no route to host|network is unreachable|unable to find port",
    re.IGNORECASE,
)
_NO_COMMAND = re.compile(
    r'exec: "(?P<exec>[^"]+)": '
    r"(?:executable file not found|stat [^:]+: no such file or directory|permission denied)"
    r"|(?:^|[\s:])[\w/.-]*sh(?::\s*(?:line\s+)?\d+)?:\s*(?P<shell>[^\s:]+):\s*(?:command\s+)?not found"
    r"|exit (?:code|status) (?P<code>12[67])\b",
    re.IGNORECASE,
)
# The end of a run that failed on its own: then the probe did not interrupt a start-up.
_ERROR_TAIL = re.compile(r"error|exception|fatal|panic|traceback|exit(?:ed|ing)? with", re.IGNORECASE)
# Env vars and flags that set the port a program serves on (not one it dials: DB_PORT, REDIS_PORT).
_OWN_PORT_ENV = re.compile(
    r"^(?:(?:[A-Z0-9]+_)*(?:HTTP|HTTPS|SERVER|LISTEN|APP|WEB|GRPC|HEALTH|MANAGEMENT|BIND)_)?PORT$"
)
_PORT_FLAG = re.compile(
    r"^--?[\w.-]*(?:port|listen|bind|addr)[\w.-]*[=:]\S*?(?P<port>\d{2,5})$", re.IGNORECASE
)
_PORT_WORD = re.compile(r"\bport\s+(\d{1,5})\b", re.IGNORECASE)
# Lines of a second server a health probe seldom means (metrics, profiling, admin).
_SIDE_SERVER = re.compile(r"metric|prometheus|pprof|debug|admin", re.IGNORECASE)
_HEALTH_PATH = re.compile(r"health|ready|live|alive|ping|status", re.IGNORECASE)
# A start-up of unknown length gets this long (the Kubernetes docs' example: 30 failures x 10 s), or four
# times what the kubelet already allowed, whichever is more; a stated start-up time gets twice itself.
_UNKNOWN_START_BUDGET = 300
_HEADROOM = 2
_UNKNOWN_FACTOR = 4
_DEFAULT_PERIOD = 10
_DEFAULT_THRESHOLD = 3

# How directly the facts support each conclusion.
_SCORE_PORT = 0.9  # the app says where it listens
_SCORE_PROVEN = 0.85  # another probe, or an answer, shows it
_SCORE_START = 0.8  # killed while starting, on its own port
_SCORE_SAFER = 0.75  # the port answers; no served path known
_SCORE_FINDINGS = 0.5  # the probe fails, no fix the facts support
_SCORE_APP = 0.4  # the app answers that it is unhealthy: the probe is right to fail
_SCORE_SYMPTOM = 0.25  # it exits on its own: the probe only sees it gone (below "exits with code N")


@dataclass
class _Facts:
    """What the evidence shows about one container whose probes fail."""

    name: str
    spec: dict
    target: str
    pointer: str
    status: dict
    logs: str
    failures: dict[str, list[str]] = field(default_factory=dict)  # probe kind -> kubelet failure texts
    messages: list[str] = field(default_factory=list)  # the failure events, quoted as facts
    counts: dict[str, int] = field(default_factory=dict)  # probe kind -> failures the events count
    last_seen: str = ""  # when the kubelet last reported a failing probe of it
    killed_by: str = ""  # the probe kind that killed the last run
    listens: list[Listen] = field(default_factory=list)  # where it is shown accepting connections
    expected: dict[int, str] = field(default_factory=dict)  # ports it is configured to serve -> where
    proven: dict[str, dict] = field(default_factory=dict)  # probe kind -> probe shown passing
    ran_for: float = 0.0  # seconds the last run lasted at least

    def port(self, value: int | str | None) -> int | None:
        """A probe's port as a number: named ports resolve through the container's ports."""
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value)
        named = next((p for p in self.spec.get("ports") or [] if p.get("name") == value), None)
        return named.get("containerPort") if named else None

    def written(self, port: int, like: int | str | None) -> int | str:
        """`port` as a probe should name it: by a named port of that number when the probe used a name."""
        if isinstance(like, str) and not like.isdigit():
            name = next(
                (
                    p["name"]
                    for p in self.spec.get("ports") or []
                    if p.get("containerPort") == port and p.get("name")
                ),
                None,
            )
            if name:
                return name
        return port

    @property
    def restarts(self) -> int:
        return int(self.status.get("restartCount") or 0)


@dataclass
class _Verdict:
    """One failing probe judged: what to say, the operations that fix it (if any), how sure."""

    text: str
    score: float
    operations: list[dict] = field(default_factory=list)
    missing: str = ""  # without operations: what the facts lack for a fix


def analyze(evidence: Evidence) -> list[Candidate]:
    return [_candidate(facts) for facts in _failing(evidence)]


# --- Facts ---------------------------------------------------------------------------------------


def _container_of(evidence: Evidence, event: dict) -> str:
    """The container an event is about (its field path), else the one that failed."""
    path = (event.get("involvedObject") or {}).get("fieldPath") or ""
    named = _IN_BRACES.search(path)
    spec = evidence.pod.get("spec") or {}
    names = {c.get("name") for kind in CONTAINER_LISTS for c in spec.get(kind) or []}
    if named and named["name"] in names:
        return named["name"]
    return failed_container(evidence) or ""


def _sort_key(event: dict) -> str:
    return event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or ""


def _failing(evidence: Evidence) -> Iterator[_Facts]:
    """The facts of each container that has failing probes, in the order their failures were first seen."""
    found: dict[str, _Facts] = {}
    killed: dict[str, str] = {}
    for event in sorted(evidence.events, key=_sort_key):
        message = event.get("message") or ""
        name = _container_of(evidence, event)
        if match := _KILLED.search(message):
            killed[name] = match["kind"].lower()
        if not (match := _EVENT.search(message)):
            continue
        if name not in found:
            located = container_pointer(evidence, name)
            if located is None:
                continue
            target, pointer, spec = located
            found[name] = _Facts(
                name, spec, target, pointer, _status(evidence, name), evidence.logs.get(name, "")
            )
        facts = found[name]
        kind = match["kind"].lower()
        facts.failures.setdefault(kind, []).append(match["why"].strip())
        facts.counts[kind] = facts.counts.get(kind, 0) + int(event.get("count") or 1)
        facts.last_seen = max(facts.last_seen, _sort_key(event))
        if len(facts.messages) < 3:
            facts.messages.append(quote(message))
    for name, facts in found.items():
        facts.killed_by = killed.get(name) or _killed_by(facts)
        facts.ran_for = _ran_for(facts)
        facts.expected = _expected_ports(evidence, facts)
        facts.proven = _proven(facts)
        facts.listens = _listens(evidence, facts)
        yield facts


def _status(evidence: Evidence, name: str) -> dict:
    status = evidence.pod.get("status") or {}
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    return next((cs for cs in statuses if cs.get("name") == name), {})


def _killed_by(facts: _Facts) -> str:
    """Without a Killing event: a restarted container whose last run ended in a kill, while a probe that
    kills (startup before liveness) was failing."""
    exit_code = ((facts.status.get("lastState") or {}).get("terminated") or {}).get("exitCode")
    if not facts.restarts or exit_code not in _KILL_EXITS:
        return ""
    return next((kind for kind in ("startup", "liveness") if kind in facts.failures), "")


def _timing(probe: dict) -> tuple[float, float, int]:
    """(initialDelaySeconds, periodSeconds, failureThreshold) with the API's defaults."""
    return (
        float(probe.get("initialDelaySeconds") or 0),
        float(probe.get("periodSeconds") or _DEFAULT_PERIOD),
        int(probe.get("failureThreshold") or _DEFAULT_THRESHOLD),
    )


def _seconds_between(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return 0.0


def _ran_for(facts: _Facts) -> float:
    """How long the last (or, never restarted, the current) run lasted at least: the probe that killed it
    failed failureThreshold times in a row after its delay (the first one at the delay, at the earliest),
    as a probe of a run never restarted failed as often as its events count; the run's start and finish
    (or the last failure reported), and its logs' timestamps, may say more."""
    bounds = [logged_seconds(facts.logs) or 0.0]
    if facts.killed_by:
        delay, period, threshold = _timing(facts.spec.get(_FIELD[facts.killed_by]) or {})
        bounds.append(delay + period * (threshold - 1))
    if not facts.restarts:
        for kind, count in facts.counts.items():
            delay, period, _ = _timing(facts.spec.get(_FIELD[kind]) or {})
            bounds.append(delay + period * (count - 1))
    terminated = (facts.status.get("lastState") or {}).get("terminated") or {}
    bounds.append(_seconds_between(terminated.get("startedAt"), terminated.get("finishedAt")))
    running = (facts.status.get("state") or {}).get("running") or {}
    bounds.append(_seconds_between(running.get("startedAt"), facts.last_seen or None))
    return max(bounds)


def _proven(facts: _Facts) -> dict[str, dict]:
    """The container's probes shown passing: readiness while the container is Ready, a startup probe once
    the container started, and any probe without a failure event that ran while the run lasted (the
    kubelet records every failed probe, so one that ran and left no event passed)."""
    proven = {}
    ready, started = facts.status.get("ready") is True, facts.status.get("started") is True
    for kind, name in _FIELD.items():
        probe = facts.spec.get(name)
        if not probe:
            continue
        if (kind == "readiness" and ready) or (kind == "startup" and started):
            proven[kind] = probe
            continue
        delay, period, _ = _timing(probe)
        gated = kind != "startup" and facts.killed_by == "startup"  # never ran: the startup probe failed
        if kind not in facts.failures and not gated and (ready or facts.ran_for >= delay + period):
            proven[kind] = probe
    return proven


def _expected_ports(evidence: Evidence, facts: _Facts) -> dict[int, str]:
    """Ports the container is configured to serve: its declared ports, the Services that send it traffic
    (targetPort, Endpoints), env such as PORT and flags such as --port. Configuration, not proof."""
    expected: dict[int, str] = {}
    for port in facts.spec.get("ports") or []:
        if port.get("containerPort"):
            expected.setdefault(
                int(port["containerPort"]), f"containerPort {port.get('name') or port['containerPort']}"
            )
    labels = evidence.pod["metadata"].get("labels") or {}
    for service in evidence.services:
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector or any(labels.get(key) != value for key, value in selector.items()):
            continue
        name = service["metadata"]["name"]
        for port in (service.get("spec") or {}).get("ports") or []:
            target = facts.port(port.get("targetPort", port.get("port")))
            if target:
                expected.setdefault(target, f"Service {name} targetPort")
        for subset in (evidence.endpoints.get(name) or {}).get("subsets") or []:
            for port in subset.get("ports") or []:
                if port.get("port"):
                    expected.setdefault(int(port["port"]), f"Endpoints {name}")
    for env in facts.spec.get("env") or []:
        value = str(env.get("value", ""))
        if _OWN_PORT_ENV.match(env.get("name", "")) and value.isdigit():
            expected.setdefault(int(value), f"env {env['name']}")
    for arg in [*(facts.spec.get("command") or []), *(facts.spec.get("args") or [])]:
        if match := _PORT_FLAG.match(str(arg)):
            expected.setdefault(int(match["port"]), f"flag {arg}")
    return expected


def _mounted_config(evidence: Evidence, facts: _Facts) -> Iterator[tuple[str, str]]:
    """(ConfigMap name, text) of each ConfigMap the container mounts."""
    volumes = {
        v.get("name"): (v.get("configMap") or {}).get("name")
        for v in evidence.pod["spec"].get("volumes") or []
    }
    for mount in facts.spec.get("volumeMounts") or []:
        name = volumes.get(mount.get("name"))
        configmap = evidence.configmaps.get(name or "") or {}
        for text in (configmap.get("data") or {}).values():
            yield name or "", str(text)


def _listens(evidence: Evidence, facts: _Facts) -> list[Listen]:
    """Where the container is shown accepting connections: its logs, its server config, its probes that
    pass, and any probe the app answered (an HTTP status, a gRPC error) even with a failure."""
    meta = evidence.pod["metadata"]
    own = frozenset(filter(None, (meta.get("name"), (evidence.pod.get("spec") or {}).get("hostname"))))
    found = [replace(listen, line=f"log: {listen.line}") for listen in listening(facts.logs, own)]
    for name, text in _mounted_config(evidence, facts):
        found += [
            replace(listen, line=f"ConfigMap {name}: {listen.line}") for listen in configured_listens(text)
        ]
    for kind, probe in facts.proven.items():
        handler = next((h for h in _PORT_HANDLERS if h in probe), None)
        port = facts.port(probe[handler].get("port")) if handler else None
        if port and not probe[handler].get("host"):
            found.append(Listen(port, "", f"{_FIELD[kind]} passes on it"))
    for kind, whys in facts.failures.items():
        probe = facts.spec.get(_FIELD[kind]) or {}
        handler = next((h for h in _PORT_HANDLERS if h in probe), None)
        answer = next((why for why in whys if _answered(why)), None)
        port = facts.port(probe[handler].get("port")) if handler else None
        if port and answer and not probe[handler].get("host"):
            found.append(Listen(port, "", f"it answered the {_FIELD[kind]}: {quote(answer, 60)}"))
    return found


def _answered(why: str) -> bool:
    """The probed port answered (an HTTP status, a non-HTTP reply, a gRPC status): something listens."""
    return bool(
        _STATUS.search(why)
        or _HTTP_TO_HTTPS.search(why)
        or _NOT_HTTP.search(why)
        or _NO_GRPC_HEALTH.search(why)
        or _GRPC_UNHEALTHY.search(why)
    )


def _decisive(whys: list[str]) -> str:
    """The failure text that says most: an answer over a missing command over an unreachable port, the
    latest of a kind (early refusals of a starting app give way to what it answers once up)."""
    for test in (
        _answered,
        lambda why: bool(_NO_COMMAND.search(why)),
        lambda why: bool(_UNREACHED.search(why)),
    ):
        chosen = [why for why in whys if test(why)]
        if chosen:
            return chosen[-1]
    return whys[-1]


def _short(why: str) -> str:
    """The failure as a few words: 'HTTP 404', 'connection refused', or the quoted text."""
    if status := _STATUS.search(why):
        return f"HTTP {status['code']}"
    if unreached := _UNREACHED.search(why):
        return unreached.group(0)
    return quote(why, 70)


def _main_servers(facts: _Facts) -> list[Listen]:
    """The listens that are not a metrics, profiling or admin server's."""
    return [listen for listen in facts.listens if not _SIDE_SERVER.search(listen.line)]


def _listening_port(facts: _Facts, handler: str) -> Listen | None:
    """The one port the container listens on that a probe should check, or None when none or several
    remain after preferring its configured ports, the gRPC server for a gRPC probe and another for an HTTP
    one, and the main server over a metrics or admin one. An exec probe runs inside the container, so
    for it a loopback bind counts too."""
    by_port: dict[int, list[Listen]] = {}
    for listen in facts.listens:
        if handler == "exec" or not listen.loopback:
            by_port.setdefault(listen.port, []).append(listen)

    def protocol_fits(port: int) -> bool:
        if handler not in ("grpc", "httpGet"):
            return True
        return any(("grpc" in listen.line.lower()) == (handler == "grpc") for listen in by_port[port])

    def main(port: int) -> bool:
        return any(not _SIDE_SERVER.search(listen.line) for listen in by_port[port])

    ports = list(by_port)
    for fits in (lambda port: port in facts.expected, protocol_fits, main):
        if len(ports) > 1:
            ports = [port for port in ports if fits(port)] or ports
    return by_port[ports[0]][0] if len(ports) == 1 else None


# --- Judging one probe ---------------------------------------------------------------------------


def _judge(facts: _Facts, kind: str) -> _Verdict:
    name = _FIELD[kind]
    probe = facts.spec.get(name) or {}
    why = _decisive(facts.failures[kind])
    handler = next((h for h in (*_PORT_HANDLERS, "exec") if h in probe), None)
    if handler is None:
        return _Verdict(
            f"{name} fails ({_short(why)})", _SCORE_FINDINGS, missing=f"the spec shows no handler for {name}"
        )
    if handler == "exec":
        return _exec(facts, kind, probe, why)
    if _answered(why):
        return _answer(facts, kind, probe, handler, why)
    return _unreached(facts, kind, probe, handler, why)


def _unreached(facts: _Facts, kind: str, probe: dict, handler: str, why: str) -> _Verdict:
    """Nothing answered on the probed port: a wrong port, a wrong host, a loopback bind, or a slow start."""
    name, action = _FIELD[kind], probe[handler]
    pointer = f"{facts.pointer}/{name}/{handler}"
    written, port = action.get("port"), facts.port(action.get("port"))
    said = f"{name}.{handler}.port {written} gets {_short(why)}"
    here = [listen for listen in facts.listens if listen.port == port]
    if here and action.get("host") and any(not listen.loopback for listen in here):
        shown = next(listen for listen in here if not listen.loopback)
        return _Verdict(
            f"{name}.{handler}.host {action['host']} gets {_short(why)} — the app listens on {port} "
            f"({quote(shown.line, 80)}); without host the kubelet probes the pod IP",
            _SCORE_PROVEN,
            [{"op": "remove", "path": f"{pointer}/host"}],
        )
    if here and all(listen.loopback for listen in here):
        return _Verdict(
            f"{said} — the app binds only {here[0].host}:{port} ({quote(here[0].line, 80)}), and "
            "the kubelet probes the pod IP",
            _SCORE_FINDINGS,
            missing="the app must listen on all addresses (0.0.0.0); no probe can reach a loopback bind",
        )
    if not here:
        listen = _listening_port(facts, handler)
        # a metrics or admin server up early says nothing against the configured port of a slow main one
        side = listen is not None and port in facts.expected and _SIDE_SERVER.search(listen.line)
        if listen is not None and not side:
            value = facts.written(listen.port, written)
            score = _SCORE_PORT if listen.line.startswith("log:") else _SCORE_PROVEN
            return _Verdict(
                f"{said} — the app listens on {listen.port} ({quote(listen.line, 90)})",
                score,
                [{"op": "replace", "path": f"{pointer}/port", "value": value}],
            )
    if (start := _slow_start(facts, kind, probe, port)) is not None:
        return start
    if kind == "readiness" and _starting(facts, port):
        return _Verdict(f"{said} too, as the app had not started yet", _SCORE_START)
    own = sorted({listen.port for listen in facts.listens if not listen.loopback} - {port})
    if own:
        missing = f"the app listens on {', '.join(map(str, own))}; which one {name} means is not clear"
    elif here:
        missing = f"the app listens on {port}, yet the probe got {_short(why)}; the logs do not say why"
    else:
        missing = "the logs, config and other probes do not show which port the app listens on"
    return _Verdict(said, _SCORE_FINDINGS, missing=missing)


def _still_starting(facts: _Facts) -> bool:
    """The run was cut off rather than failing on its own: its last line is no error."""
    lines = [line for line in facts.logs.splitlines() if line.strip()]
    return not (lines and _ERROR_TAIL.search(lines[-1]))


def _starting(facts: _Facts, port: int | None) -> bool:
    """The container was killed by a probe while still starting, and `port` is the one it is configured
    to serve (declared, targeted, set in env or flags, or logged), no other main server logged."""
    logged = {listen.port for listen in _main_servers(facts) if listen.line.startswith("log:")}
    configured = port in facts.expected or port in logged
    return bool(facts.killed_by) and configured and not logged - {port} and _still_starting(facts)


def _slow_start(facts: _Facts, kind: str, probe: dict, port: int | None) -> _Verdict | None:
    """A liveness or startup probe that killed the container before its start-up finished, on the port
    it is configured to serve: more time (a startup probe, or a larger failureThreshold), never a port."""
    if facts.killed_by != kind or not _starting(facts, port):
        return None
    if kind == "liveness" and facts.spec.get("startupProbe"):
        return None  # liveness ran only after the startup probe passed: the start-up was over
    delay, period, threshold = _timing(probe)
    stated = stated_start_seconds(facts.logs)
    if stated and stated > facts.ran_for:
        budget = _HEADROOM * stated
        basis = f"it says its start-up takes {stated:g}s"
    else:
        budget = max(_UNKNOWN_FACTOR * facts.ran_for, _UNKNOWN_START_BUDGET)
        basis = (
            f"it was still starting when killed after {facts.ran_for:g}s and the logs do not say how long "
            "it needs"
        )
    shown = facts.expected.get(port) or "its log"
    said = (
        f"{_FIELD[kind]} on port {port} ({shown}) killed it before it served ({facts.restarts} restarts): "
        f"{basis}"
    )
    handler = next(h for h in (*_PORT_HANDLERS, "exec") if h in probe)
    if kind == "startup":
        needed = math.ceil((budget - delay) / period)
        if needed <= threshold:
            return None
        return _Verdict(
            f"{said}; startupProbe.failureThreshold {threshold} -> {needed} allows {needed * period:g}s",
            _SCORE_START,
            # add: sets the field whether the template spells it or leaves it to the API's default
            [{"op": "add", "path": f"{facts.pointer}/startupProbe/failureThreshold", "value": needed}],
        )
    needed = math.ceil(budget / period)
    startup = {
        handler: copy.deepcopy(probe[handler]),
        "periodSeconds": int(period),
        "failureThreshold": needed,
    }
    if "timeoutSeconds" in probe:
        startup["timeoutSeconds"] = probe["timeoutSeconds"]
    return _Verdict(
        f"{said}; a startupProbe with the same check allows {needed * period:g}s ({needed} x {period:g}s) "
        "before liveness takes over",
        _SCORE_START,
        [{"op": "add", "path": f"{facts.pointer}/startupProbe", "value": startup}],
    )


def _answer(facts: _Facts, kind: str, probe: dict, handler: str, why: str) -> _Verdict:
    """The probed port answered, but not with a pass: a path, scheme or protocol the app does not serve
    there, or the app saying it is unhealthy."""
    name, action = _FIELD[kind], probe[handler]
    pointer = f"{facts.pointer}/{name}"
    written = action.get("port")
    status = _STATUS.search(why)
    code = int(status["code"]) if status else None
    if handler == "httpGet" and code and 400 <= code < 500:
        return _path(facts, kind, probe, code)
    if handler == "httpGet" and _HTTP_TO_HTTPS.search(why):
        return _Verdict(
            f"{name}.httpGet.scheme HTTPS — port {written} answers plain HTTP ({quote(why, 80)})",
            _SCORE_PROVEN,
            [{"op": "replace", "path": f"{pointer}/httpGet/scheme", "value": "HTTP"}],
        )
    if handler == "httpGet" and _TLS_REPLY.search(why):
        return _Verdict(
            f"{name}.httpGet asks port {written} in plain HTTP, which answers TLS ({quote(why, 80)})",
            _SCORE_PROVEN,
            [{"op": "add", "path": f"{pointer}/httpGet/scheme", "value": "HTTPS"}],
        )
    if (handler == "httpGet" and _NOT_HTTP.search(why)) or (
        handler == "grpc" and _NO_GRPC_HEALTH.search(why)
    ):
        protocol = "HTTP" if handler == "httpGet" else "the gRPC health service"
        return _Verdict(
            f"{name}.{handler} port {written} accepts connections but does not speak {protocol} "
            f"({quote(why, 80)}); a tcpSocket check of that port keeps the timings",
            _SCORE_SAFER,
            _to_tcp(pointer, handler, written),
        )
    if code == 503 and (start := _slow_start(facts, kind, probe, facts.port(written))) is not None:
        return start
    return _Verdict(
        f"{name} on port {written}: the app answers {_short(why)}, its own health check failing",
        _SCORE_APP,
        missing="the app reports itself unhealthy; its logs, not the probe, say why",
    )


def _swap(pointer: str, old: str, new: str, value: dict) -> list[dict]:
    """Operations that put handler `new` (with `value`) in place of handler `old`, timings kept."""
    if old == new:
        return [{"op": "replace", "path": f"{pointer}/{new}", "value": value}]
    return [
        {"op": "remove", "path": f"{pointer}/{old}"},
        {"op": "add", "path": f"{pointer}/{new}", "value": value},
    ]


def _to_tcp(pointer: str, handler: str, port: int | str) -> list[dict]:
    return _swap(pointer, handler, "tcpSocket", {"port": port})


def _path(facts: _Facts, kind: str, probe: dict, code: int) -> _Verdict:
    """An HTTP path the app answers 4xx: a path shown served on that port, else a tcpSocket check of it."""
    name, action = _FIELD[kind], probe["httpGet"]
    pointer = f"{facts.pointer}/{name}"
    path, written, port = action.get("path") or "/", action.get("port"), facts.port(action.get("port"))
    said = f"{name}.httpGet.path {path} answers {code}"
    for other, sibling in facts.proven.items():
        served = sibling.get("httpGet") or {}
        if other == kind or not served or served.get("host") or served.get("path", "/") == path:
            continue
        if facts.port(served.get("port")) == port:
            operations = [
                {"op": "replace", "path": f"{pointer}/httpGet/path", "value": served.get("path") or "/"}
            ]
        else:
            operations = [{"op": "replace", "path": f"{pointer}/httpGet", "value": copy.deepcopy(served)}]
        shown = f"{served.get('path') or '/'} on port {served.get('port')}"
        return _Verdict(
            f"{said} — {_FIELD[other]} passes with {shown}",
            _SCORE_PROVEN,
            operations,
        )
    logged = [p for p in served_paths(facts.logs) if p != path]
    if logged:
        best = min(logged, key=lambda p: (not _HEALTH_PATH.search(p), len(p)))
        return _Verdict(
            f"{said} — the access log shows {best} served",
            _SCORE_PROVEN,
            [{"op": "replace", "path": f"{pointer}/httpGet/path", "value": best}],
        )
    return _Verdict(
        f"{said} and no path is shown served; port {written} answers, so a tcpSocket check of it keeps "
        "the timings",
        _SCORE_SAFER,
        _to_tcp(pointer, "httpGet", written),
    )


def _exec(facts: _Facts, kind: str, probe: dict, why: str) -> _Verdict:
    """An exec probe: a command the image lacks, or a command that checks the wrong port."""
    name = _FIELD[kind]
    pointer = f"{facts.pointer}/{name}"
    command = [str(arg) for arg in probe["exec"].get("command") or []]
    shown = quote(" ".join(command), 60)
    if missing := _NO_COMMAND.search(why):
        program = missing["exec"] or missing["shell"] or (command[0] if command else "")
        said = f"{name}.exec runs `{shown}`, but {program} is not in the image ({_short(why)})"
        for other, sibling in facts.proven.items():
            handler = next((h for h in (*_PORT_HANDLERS, "exec") if h in sibling), None)
            if other != kind and handler:
                return _Verdict(
                    f"{said} — {_FIELD[other]} passes with its {handler} check",
                    _SCORE_PROVEN,
                    _swap(pointer, "exec", handler, copy.deepcopy(sibling[handler])),
                )
        listen = _listening_port(facts, "tcpSocket")
        if listen is not None:
            return _Verdict(
                f"{said} — the app listens on {listen.port} ({quote(listen.line, 80)}); "
                "a tcpSocket check of it keeps the timings",
                _SCORE_PROVEN,
                _to_tcp(pointer, "exec", facts.written(listen.port, None)),
            )
        return _Verdict(said, _SCORE_FINDINGS, missing="no port the app listens on is known to check instead")
    said = f"{name}.exec `{shown}` fails: {quote(why, 100)}"
    listen = _listening_port(facts, "exec")
    listening_ports = {known.port for known in facts.listens}
    for port in _named_ports(why):
        token = re.compile(rf"(?<!\d){port}(?!\d)")
        holding = [index for index, arg in enumerate(command) if len(token.findall(arg)) == 1]
        if listen is None or port in listening_ports or len(holding) != 1:
            continue
        index = holding[0]
        return _Verdict(
            f"{said} — it checks port {port}; the app listens on {listen.port} ({quote(listen.line, 80)})",
            _SCORE_PORT,
            [
                {
                    "op": "replace",
                    "path": f"{pointer}/exec/command/{index}",
                    "value": token.sub(str(listen.port), command[index]),
                }
            ],
        )
    return _Verdict(
        said, _SCORE_FINDINGS, missing="the command's output does not show what it should check instead"
    )


def _named_ports(output: str) -> list[int]:
    """Ports a probe command's output names: after a host or IP (127.0.0.1:6380), or as `port 8081`."""
    ports = failed_ports(output) + [int(port) for port in _PORT_WORD.findall(output)]
    return list(dict.fromkeys(port for port in ports if 0 < port < 65536))


# --- One candidate per container -----------------------------------------------------------------


def _exits_by_itself(facts: _Facts) -> bool:
    """Whether the container fails on its own, its probes only seeing it gone: it exits with an error (no
    probe killed it), or it restarts while only its readiness probe fails (which never restarts anything)."""
    terminated = (facts.status.get("lastState") or {}).get("terminated") or {}
    if facts.killed_by:
        return False
    return terminated.get("exitCode") not in _KILL_EXITS or (
        set(facts.failures) == {"readiness"} and facts.restarts > 0
    )


def _candidate(facts: _Facts) -> Candidate:
    verdicts = [_judge(facts, kind) for kind in _FIELD if kind in facts.failures]
    operations = [operation for verdict in verdicts for operation in verdict.operations]
    score = max(verdict.score for verdict in verdicts)
    unfixed = [verdict for verdict in verdicts if verdict.missing]
    if operations and unfixed:
        score -= 0.1  # a partial fix: some failing probe keeps failing
    symptom = _exits_by_itself(facts)
    if symptom:
        score = min(score, _SCORE_SYMPTOM)
    summary = f"container {facts.name}: " + "; ".join(verdict.text for verdict in verdicts) + "."
    missing = "; ".join(verdict.missing for verdict in unfixed)
    if missing:
        summary += f" {'Not fixed' if operations else 'No fix'}: {missing}."
    shown = [listen.line for listen in facts.listens if listen.line.startswith(("log:", "ConfigMap"))]
    return Candidate(
        root_cause=RootCause.PROBE_FAILURE,
        summary=quote(summary, 400),
        score=round(score, 2),
        patch=ProposedPatch(facts.target, operations) if operations else None,
        facts=(*facts.messages, *(quote(line, 160) for line in shown[:2])),
        no_patch_reason=None if operations else f"container {facts.name}: {missing or 'no fix is supported'}",
        symptom=symptom,
    )
