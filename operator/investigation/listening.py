"""Where a process says it listens, which HTTP paths it says it served, and how long it says it took to start.

The probes analyzer reads a container's logs (and the server config its ConfigMaps hold) with these to
tell a probe aimed at the wrong port or path from an app that was still starting. Lines are read by shape,
not by one runtime's wording: an address or port (`:8080`, `0.0.0.0:8000`, `[::]:5000`, `http://host:port`,
`port 3000`, `port(s): 8080`, `port=6379`) that follows a listen, serve, run, start, bind or accept word, so
Go, uvicorn, gunicorn, flask, Node, Spring (Tomcat, Netty, Undertow), .NET Kestrel, puma, redis, postgres,
mysql, mongo and RabbitMQ wordings are all read the same way. Lines that dial out (`connecting to db:5432`)
or report a failure (`EADDRINUSE`, `connection refused`) are never a listen.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from smart_sre.investigation.mentions import is_failure, scheme_port

# A word after which a line names where the process itself accepts connections.
_LISTEN_WORD = re.compile(
    r"\b(?:listen(?:s|ing|er)?|serv(?:e|es|ing)|running|start(?:s|ed|ing)?|bound|bind(?:ing)?|"
    r"accept(?:s|ing)?|ready)\b",
    re.IGNORECASE,
)
# What sits between that word and the address when the line is about somewhere else, or is an error.
_NOT_OWN = re.compile(
    r"connect|dial|upstream|proxy|forward|remote|client|pool|fetch|request|backend|in use|eaddrinuse|"
    r"fail|error|unable|cannot|can't|could not|refused|denied",
    re.IGNORECASE,
)
_HOST = r"\[[0-9a-fA-F:.]*\]|[\w.*+-]+"
_ADDRESS = re.compile(
    # scheme://host[:port] (a URL without a port means its scheme's), host:port or :port
    rf"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>{_HOST})?:(?P<port>\d{{1,5}})"
    # port 3000, port(s): 8080, port=6379, "port":27017
    r"|\bports?(?:\(s\))?\"?\s*(?:[:=]\s*|\s+)(?P<named>\d{1,5})\b"
    # a URL that relies on its scheme's port
    rf"|(?P<bare>https?|wss?)://(?P<urlhost>{_HOST})(?=[/\s]|$)",
    re.IGNORECASE,
)
_GAP = 100  # characters between the listen word and its address
_IP = re.compile(r"\[[0-9a-fA-F:.]*\]|\b\d{1,3}(?:\.\d{1,3}){3}\b")
_WILDCARDS = {"", "*", "+", "localhost", "0.0.0.0", "[::]", "::"}
# An nginx or Apache `listen` directive: listen 80; listen [::]:8080 default_server; Listen 127.0.0.1:8080
_CONFIG_LISTEN = re.compile(
    rf"^\s*listen\s+(?:(?P<host>{_HOST}):)?(?P<port>\d{{1,5}})\b", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True)
class Listen:
    """One statement that the process accepts connections on `port` (at `host`, "" when it did not say)."""

    port: int
    host: str
    line: str

    @property
    def loopback(self) -> bool:
        """Bound to a loopback address only, so the kubelet (which dials the pod IP) never reaches it."""
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False  # a wildcard, a name (`localhost` is often printed for a wildcard bind), or none


def _own(host: str, own_hosts: frozenset[str]) -> bool:
    """A host a process binds: a wildcard, an IP literal, or one of the pod's own names, never a
    Service it dials (`redis:6379` after "starting worker for")."""
    return host.lower() in _WILDCARDS or host in own_hosts or bool(_IP.fullmatch(host))


def _address(match: re.Match[str], rest: str, own_hosts: frozenset[str]) -> tuple[str, int] | None:
    """(host, port) of one address match, or None when it is a time of day, a version or not the pod's."""
    if match["named"]:
        literal = _IP.search(rest[: match.start()])
        host, port = (literal.group(0) if literal else ""), int(match["named"])
    elif match["bare"]:
        host, port = match["urlhost"], scheme_port(match["bare"]) or 0
    else:
        host, port = match["host"] or "", int(match["port"])
        before, after = rest[: match.start()], rest[match.end() :]
        # A bare ":8080" stands after a space, "=", "(" or "[" (not "10:30" read from its middle, nor
        # JSON's "pid":1); a port is never followed by more time or version digits (10:30:15, 1:2.3).
        bare = not match["host"] and before[-1:] not in ("", " ", "=", "(", "[", "\t")
        if bare or re.match(r"[:.]\d", after) or host.isdigit():
            return None
    if not _own(host, own_hosts) or not 0 < port < 65536:
        return None
    return host, port


def listening(text: str, own_hosts: frozenset[str] = frozenset()) -> list[Listen]:
    """Every place the log text says the process listens, in order, without repeats. `own_hosts`: names
    the pod answers to (its name, its hostname) besides wildcards and IP literals."""
    found: list[Listen] = []
    for line in text.splitlines():
        if is_failure(line):
            continue
        for word in _LISTEN_WORD.finditer(line):
            rest = line[word.end() : word.end() + _GAP]
            address = next(
                (
                    found_at
                    for match in _ADDRESS.finditer(rest)
                    if not _NOT_OWN.search(rest[: match.start()])
                    and (found_at := _address(match, rest, own_hosts)) is not None
                ),
                None,
            )
            if address is not None:
                listen = Listen(address[1], address[0], line.strip())
                if all((listen.port, listen.host) != (f.port, f.host) for f in found):
                    found.append(listen)
                break
    return found


def configured_listens(config: str) -> list[Listen]:
    """The `listen` directives of a server config (nginx, Apache) a ConfigMap holds."""
    return [
        Listen(int(m["port"]), m["host"] or "", m.group(0).strip())
        for m in _CONFIG_LISTEN.finditer(config)
        if 0 < int(m["port"]) < 65536
    ]


# An access log line: the method, the path and the status the server answered with.
_ACCESS = re.compile(
    r"\b(?:GET|HEAD)\s+(?P<path>/[^\s\"?]*)(?:\?\S*)?(?:\s+HTTP/[\d.]+)?\"?\s+(?P<status>[1-5]\d\d)\b"
)


def served_paths(text: str) -> list[str]:
    """Paths an access log shows answered with a success (2xx or 3xx), in order, without repeats."""
    paths: list[str] = []
    for match in _ACCESS.finditer(text):
        if match["status"][0] in "23" and match["path"] not in paths:
            paths.append(match["path"])
    return paths


# "Started Application in 27.3 seconds", "startup took 45s", "ready in 812 ms", "loading weights (this takes
# about 240 seconds)".
_STARTED_IN = re.compile(
    r"\b(?:start(?:ed|up)?|ready|boot(?:ed|ing)?|initiali[sz](?:ed|ing)|warm(?:ed|ing)?[- ]?up|"
    r"load(?:ed|ing)?)\b"
    r"[^\n]{0,40}?"
    r"\b(?:in|took|takes?|after|within)\s+(?:~|about\s+|approximately\s+)?(?P<n>\d+(?:\.\d+)?)\s*"
    r"(?P<unit>ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)\b",
    re.IGNORECASE,
)
_STAMP = re.compile(r"(?P<day>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:[.,](?P<frac>\d{1,9}))?")


def stated_start_seconds(text: str) -> float | None:
    """How long the process says its start-up takes or took (the longest it states), if it says."""
    seconds = []
    for match in _STARTED_IN.finditer(text):
        unit = match["unit"].lower()
        factor = 0.001 if unit.startswith(("ms", "milli")) else 60.0 if unit.startswith("m") else 1.0
        seconds.append(float(match["n"]) * factor)
    return max(seconds, default=None)


def _stamp(line: str) -> float | None:
    match = _STAMP.search(line)
    if match is None:
        return None
    try:
        moment = datetime.fromisoformat(f"{match['day']}T{match['time']}")
    except ValueError:  # looks like a date, is none (month 13)
        return None
    return moment.timestamp() + float(f"0.{match['frac'] or 0}")


def logged_seconds(text: str) -> float | None:
    """Seconds between the first and the last timestamped line: how long the logged run lasted at least."""
    stamps = [stamp for line in text.splitlines() if (stamp := _stamp(line)) is not None]
    return stamps[-1] - stamps[0] if len(stamps) > 1 else None
