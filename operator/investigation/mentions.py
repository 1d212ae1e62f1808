"""Hosts and ports a pod talks about: in its env (REDIS_HOST, DATABASE_URL, DEPENDS_ON...) and its logs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# host:port where host is a DNS name (possibly qualified); the first label is the Service name.
_HOST_PORT = re.compile(
    r"(?<![A-Za-z0-9_.-])(?:[a-z][a-z0-9+.-]*://)?(?:[^\s:/@]+(?::[^\s/@]*)?@)?"
    r"(?P<host>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*):(?P<port>\d{1,5})\b"
)
_DNS_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$")
_NOT_SERVICES = {"localhost", "127.0.0.1", "0.0.0.0"}
_SCHEME_PORTS = {
    "redis": 6379,
    "rediss": 6379,
    "postgres": 5432,
    "postgresql": 5432,
    "mysql": 3306,
    "mongodb": 27017,
    "amqp": 5672,
    "http": 80,
    "https": 443,
    "nats": 4222,
    "kafka": 9092,
}


def _service_like(host: str) -> bool:
    return host not in _NOT_SERVICES and bool(_DNS_NAME.match(host)) and not host.replace(".", "").isdigit()


def host_ports(text: str) -> list[tuple[str, int]]:
    """(service-like host, port) pairs in order of first appearance, without duplicates."""
    found: list[tuple[str, int]] = []
    for match in _HOST_PORT.finditer(text):
        host, port = match.group("host"), int(match.group("port"))
        if _service_like(host) and 0 < port < 65536 and (host, port) not in found:
            found.append((host, port))
    return found


@dataclass(frozen=True)
class EnvDependency:
    """A backend one env var of one container points at."""

    container: int  # index in spec.containers
    env: int  # index in that container's env
    name: str  # the env var's name
    value: str
    host: str
    port: int | None
    port_env: str | None = None  # name of a sibling *_PORT env var, when the port lives there

    def with_host(self, host: str) -> str:
        """The env value rewritten to point at another host, everything else kept."""
        if self.value == self.host:
            return host
        return re.sub(rf"(?<![A-Za-z0-9.-]){re.escape(self.host)}(?=[:/]|$)", host, self.value, count=1)


def _port(value: str) -> int | None:
    return int(value) if value.isdigit() and 0 < int(value) < 65536 else None


def env_dependencies(containers: list[dict]) -> list[EnvDependency]:
    """Every literal env value that names a host: *_HOST (+ *_PORT), URLs, and host:port lists."""
    found: list[EnvDependency] = []
    for ci, container in enumerate(containers):
        env = container.get("env") or []
        by_name = {e.get("name"): (i, str(e["value"])) for i, e in enumerate(env) if "value" in e}
        for ei, entry in enumerate(env):
            if "value" not in entry:
                continue
            name, value = entry["name"], str(entry["value"]).strip()
            if "://" in value:
                parts = urlsplit(value)
                if parts.hostname and _service_like(parts.hostname):
                    try:
                        port = parts.port or _SCHEME_PORTS.get(parts.scheme)
                    except ValueError:
                        port = None
                    found.append(EnvDependency(ci, ei, name, value, parts.hostname, port))
            elif pairs := host_ports(value):
                found.extend(EnvDependency(ci, ei, name, value, host, port) for host, port in pairs)
            elif name.upper().endswith("HOST") and _service_like(value):
                port_name = name[: -len("HOST")] + "PORT"
                port_value = by_name.get(port_name, (None, ""))[1]
                found.append(
                    EnvDependency(
                        ci, ei, name, value, value, _port(port_value), port_name if port_value else None
                    )
                )
    return found
