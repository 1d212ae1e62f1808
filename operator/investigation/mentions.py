"""What a pod talks about: the addresses its env points at, and what its logs say is missing.

Evidence gathering calls `env_dependencies` once per investigation; the dependency and config analyzers
read log lines with `failed_hosts`, `missing_env_names` and `missing_files`. Logs are read by shape, not
by one runtime's wording: a host is a DNS name that a failure line quotes, puts in parentheses, follows
with a port, or names right after a resolver word; an env name is an UPPER_SNAKE word on a line that
says something is absent; a missing file is an absolute path on a line that says it is not there. So
Go, Python, Node, Java, Ruby, .NET, nginx, postgres and mysql phrasings are all read the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

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
    "mariadb": 3306,
    "mongodb": 27017,
    "amqp": 5672,
    "amqps": 5671,
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "nats": 4222,
    "kafka": 9092,
    "memcached": 11211,
}
# Env names whose bare value is a host: DB_HOST, REDIS_HOSTNAME, BROKER_ADDR, SMTP_SERVER ...
_HOST_SUFFIXES = ("HOSTNAME", "HOST", "ADDRESS", "ADDR", "SERVER", "ENDPOINT")
_PORT_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,13}[a-z0-9])?$")  # an IANA_SVC_NAME, as a Service port name


def scheme_port(scheme: str) -> int | None:
    """The port a URL of this scheme means when it names none (http 80, postgres 5432, ...)."""
    return _SCHEME_PORTS.get(scheme.lower())


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


# --- Service addresses ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """A host read as a Service address: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster domain>`, or
    `pod.svc.ns.svc.<cluster domain>` (one pod of a headless Service)."""

    service: str
    namespace: str | None  # None: a short name, resolved in the client's own namespace
    suffix: str = ""  # what followed the namespace as written: "", ".svc", ".svc.cluster.local"
    pod: str = ""  # the pod label of a headless Service's pod address

    def spelled(self, service: str, namespace: str, own: str) -> str:
        """Another Service's address in the form this one was written: a short name stays short unless
        the Service lies in another namespace; a qualified one keeps its qualification."""
        pod = f"{self.pod}." if self.pod else ""
        if self.namespace is None and namespace == own:
            return pod + service
        return f"{pod}{service}.{namespace}{self.suffix}"

    def where(self, own: str) -> str:
        return self.namespace or own


def service_host(host: str, own: str) -> str:
    """How the check_service tool names the Service a host points at: `svc` in the pod's own namespace,
    `svc.ns` in another one (a host outside the cluster's Service DNS: its first label)."""
    address = parse_address(host)
    if address is None:
        return host.split(".")[0]
    namespace = address.where(own)
    return address.service if namespace == own else f"{address.service}.{namespace}"


def parse_address(host: str) -> Address | None:
    """The Service a host names, or None for a host outside the cluster's Service DNS (api.stripe.com)."""
    labels = host.lower().rstrip(".").split(".")
    if not _service_like(host.lower()):
        return None
    if len(labels) == 1:
        return Address(labels[0], None)
    if len(labels) == 2:
        return Address(labels[0], labels[1])
    if labels[2] == "svc":
        return Address(labels[0], labels[1], "." + ".".join(labels[2:]))
    if len(labels) > 3 and labels[3] == "svc":
        return Address(labels[1], labels[2], "." + ".".join(labels[3:]), labels[0])
    return None


@dataclass(frozen=True)
class EnvDependency:
    """A backend one env var of one container points at."""

    container: str  # the container's name (in containers or initContainers)
    env: int | None  # index in that container's env; None when the value comes from a ConfigMap
    name: str  # the env var's name
    value: str
    host: str
    port: int | None
    port_env: str | None = None  # name of a sibling *_PORT env var, when the port lives there
    port_name: str | None = None  # a named port (`DB_PORT=postgres`), matched against Service port names
    source: str | None = None  # "ConfigMap app-config key DB_HOST" when the value is not on the template

    def with_host(self, host: str) -> str:
        """The env value rewritten to point at another host, everything else kept."""
        if self.value == self.host:
            return host
        return re.sub(rf"(?<![A-Za-z0-9.-]){re.escape(self.host)}(?=[:/,;?]|$)", host, self.value, count=1)

    def with_port(self, port: int) -> str:
        """The env value rewritten to dial `port`; a URL that relied on its scheme's port gains one."""
        written = re.compile(rf"(?<![A-Za-z0-9.-]){re.escape(self.host)}:{self.port}(?!\d)")
        if self.port is not None and written.search(self.value):
            return written.sub(f"{self.host}:{port}", self.value, count=1)
        return re.sub(
            rf"(?<![A-Za-z0-9.-]){re.escape(self.host)}(?=[/,;?]|$)",
            f"{self.host}:{port}",
            self.value,
            count=1,
        )


def _port(value: str) -> int | None:
    return int(value) if value.isdigit() and 0 < int(value) < 65536 else None


def _url_hosts(value: str) -> Iterator[tuple[str, int | None]]:
    """Hosts of a URL of any scheme (jdbc:postgresql://, postgresql+asyncpg://, mongodb://a:1,b:2/db),
    with the port written or the scheme's port."""
    scheme, _, rest = value.partition("://")
    scheme = scheme.rsplit(":", 1)[-1].split("+")[0].lower()
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    for part in netloc.split(","):
        host, _, port = part.partition(":")
        if host and _service_like(host.lower()):
            yield host.lower(), _port(port) if port else _SCHEME_PORTS.get(scheme)


def _host_suffix(name: str) -> str | None:
    upper = name.upper()
    return next((suffix for suffix in _HOST_SUFFIXES if upper.endswith(suffix)), None)


def _dependencies_of(
    container: str, env: list[tuple[str, str, int | None, str | None]]
) -> Iterator[EnvDependency]:
    """Every address in one container's env: (name, value, index on the template, source) entries."""
    by_name = {name: value for name, value, _, _ in env}
    for name, raw, index, source in env:
        value = raw.strip()
        if not value or "$(" in value:
            continue
        if "://" in value:
            for host, port in _url_hosts(value):
                yield EnvDependency(container, index, name, value, host, port, source=source)
        elif pairs := host_ports(value):
            for host, port in pairs:
                yield EnvDependency(container, index, name, value, host, port, source=source)
        elif (suffix := _host_suffix(name)) and _service_like(value.lower()):
            port_env = name[: -len(suffix)] + "PORT"
            port_value = by_name.get(port_env, "").strip()
            yield EnvDependency(
                container,
                index,
                name,
                value,
                value.lower(),
                _port(port_value),
                port_env if port_value else None,
                port_value if _PORT_NAME.match(port_value) else None,
                source,
            )


def container_env(
    container: dict, configmaps: dict[str, dict | None]
) -> list[tuple[str, str, int | None, str | None]]:
    """(name, value, env index, source) of every env var whose value the spec or a ConfigMap shows."""
    found: list[tuple[str, str, int | None, str | None]] = []
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef") or {}
        data = (configmaps.get(ref.get("name", "")) or {}).get("data") or {}
        for key, value in data.items():
            found.append(
                (source.get("prefix", "") + key, str(value), None, f"ConfigMap {ref['name']} key {key}")
            )
    for index, entry in enumerate(container.get("env") or []):
        if "value" in entry:
            found.append((entry["name"], str(entry["value"]), index, None))
            continue
        ref = (entry.get("valueFrom") or {}).get("configMapKeyRef") or {}
        data = (configmaps.get(ref.get("name", "")) or {}).get("data") or {}
        if ref.get("key") in data:
            found.append(
                (entry["name"], str(data[ref["key"]]), None, f"ConfigMap {ref['name']} key {ref['key']}")
            )
    return found


def env_dependencies(spec: dict, configmaps: dict[str, dict | None] | None = None) -> list[EnvDependency]:
    """Every address a pod's containers (init containers too) read from env: literal values on the
    template, and values their ConfigMaps supply (`configmaps`: the referenced ones, by name)."""
    found: list[EnvDependency] = []
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            found.extend(_dependencies_of(container["name"], container_env(container, configmaps or {})))
    return found


def with_dialled_port(dependency: EnvDependency, dials: list[tuple[str, int]]) -> EnvDependency:
    """A *_HOST without a port takes the port the pod was seen dialling that host at, if any."""
    if dependency.port is not None or dependency.port_name is not None:
        return dependency
    dialled = [port for host, port in dials if host == dependency.host]
    return replace(dependency, port=dialled[0]) if dialled else dependency


# --- Reading failure lines -------------------------------------------------------------------------

# A line saying a dependency could not be reached: refused, unresolvable, timed out, in any runtime.
_FAILURE = re.compile(
    r"connection refused|connection to \S+ refused|econnrefused|no such host|enotfound|eai_again|name or service not known|"
    r"unknownhostexception|could not resolve|could not translate host|unknown [\w ]*host|host not found|"
    r"name resolution|timed out|i/o timeout|etimedout|connect(?:ion)? timeout|timeout connecting|"
    r"unreachable|cannot connect|can't connect|failed to connect|error \d+ connecting|error connecting",
    re.IGNORECASE,
)


def is_failure(line: str) -> bool:
    """Whether a log line says a dependency could not be reached."""
    return bool(_FAILURE.search(line))


_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
# A host the line sets apart: quoted, in parentheses or brackets, before a port or "/<ip>" (Java), or
# right after a resolver's word (Go's "lookup", Node's ENOTFOUND/EAI_AGAIN, an exception's colon).
_SET_APART = (
    re.compile(rf"[\"'`(\[](?P<host>{_HOST})(?::\d{{1,5}})?[\"'`)\]]"),
    re.compile(rf"(?<![\w.:/@-])(?P<host>{_HOST}):\d{{1,5}}\b"),
    re.compile(rf"(?<![\w.-])(?P<host>{_HOST})/\d{{1,3}}(?:\.\d{{1,3}}){{3}}"),
    re.compile(
        rf"(?:\blookup|\bENOTFOUND|\bEAI_AGAIN|\bEAI_NONAME|UnknownHostException:)\s+(?P<host>{_HOST})(?![\w-])"
    ),
    re.compile(rf"\bhost(?:name)?\s*[=:]\s*(?P<host>{_HOST})(?![\w-])", re.IGNORECASE),
)
# Words a resolver's message puts where a host could stand: never a host.
_NOT_HOST = re.compile(
    r"a|an|the|to|on|at|in|for|of|from|with|name|names|host|hostname|server|service|services|known|"
    r"unknown|not|found|refused|error|failed|failure|connection|connect|timeout|timed|out|address|"
    r"addresses|tcp|udp|dns|lookup|nodename|servname|provided|or|nor|no|such|temporary|is|emerg|"
    r"alert|crit|warn|notice|info|debug"
)


def failed_hosts(line: str) -> list[str]:
    """The hosts a failure line names (lowercase, in order): resolver, connect and timeout errors alike."""
    found: list[str] = []
    for pattern in _SET_APART:
        for match in pattern.finditer(line):
            host = match["host"].lower()
            if (
                not _NOT_HOST.fullmatch(host)
                and _service_like(host)
                and not re.fullmatch(r"[\d.]+|0x[0-9a-f]+", host)
            ) and host not in found:
                found.append(host)
    return found


def failed_ports(line: str) -> list[int]:
    """Ports a failure line names after a host or an IP (ECONNREFUSED 10.96.0.12:5432)."""
    line = re.sub(r"\bon [\d.]+:53\b", "", line)  # Go names the DNS server it asked: not a dial
    # After an IP anywhere, or after a host that is not the tail of a path (a file's line number).
    ports = re.findall(r"(?:\d{1,3}(?:\.\d{1,3}){3}|\]|(?<![/\w.-])[\w.-]*\w):(\d{1,5})\b", line)
    return [int(port) for port in ports if 0 < int(port) < 65536]


# A line that says something is absent, in any runtime's words.
_ABSENT = re.compile(
    r"missing|not set|unset|not defined|undefined|required|must (?:be )?(?:set|specif|provide)|"
    r"need to specify|must specify|is empty|not found|no value|null or not set|unbound variable|"
    r"keyerror|placeholder|cannot be null|is null|not configured|not provided",
    re.IGNORECASE,
)
_ENV_WORD = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*"
_ENV_NAMES = (
    # An UPPER_SNAKE name with at least one underscore anywhere on the line: DATABASE_URL, API_KEY.
    re.compile(r"(?<![\w$.-])(?P<name>[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?![\w-])"),
    # Any upper-case name set apart: 'PORT', "TOKEN", ${SECRET}, $TOKEN, env.PORT, [PORT].
    re.compile(rf"(?:[\"'`\[{{]|\$\{{?|env\.|ENV\[)(?P<name>{_ENV_WORD})(?:[\"'`\]}}]|:|\b)"),
    # A bare name right next to the word that says it is an env var: "environment variable PORT".
    re.compile(rf"(?i:variable|env var|\benv)s?:?\s+(?P<name>{_ENV_WORD})\b"),
    re.compile(rf"\b(?P<name>{_ENV_WORD})\s+(?i:(?:environment )?variable)"),
)
# Upper-case words logs use that are never the env var being asked for.
_NOT_ENV_NAME = re.compile(
    r"ERROR|FATAL|WARN|WARNING|INFO|DEBUG|TRACE|CRITICAL|PANIC|NOTICE|EMERG|ALERT|HTTP|HTTPS|TCP|UDP|"
    r"DNS|URL|URI|JSON|YAML|XML|NULL|NONE|TRUE|FALSE|ENOENT|ENOTFOUND|ECONNREFUSED|ECONNRESET|"
    r"ETIMEDOUT|EAI_AGAIN|EACCES|EPERM|EADDRINUSE|EHOSTUNREACH|ENETUNREACH|SIGTERM|SIGKILL|ENV|UTC|"
    r"GMT|ID|OK|II|III|IV|EOF"
)


def missing_env_names(line: str) -> list[str]:
    """Env var names a log line says are missing, unset or required (empty when it says nothing absent)."""
    if not _ABSENT.search(line):
        return []
    found: list[str] = []
    for pattern in _ENV_NAMES:
        for match in pattern.finditer(line):
            name = match["name"]
            if (
                not _NOT_ENV_NAME.fullmatch(name)
                and not name.startswith("ERR_")
                and len(name) > 1
                and name not in found
            ):
                found.append(name)
    return found


_NO_FILE = re.compile(
    r"no such file|not found|does not exist|doesn't exist|could not find|cannot find|can't find|"
    r"couldn't find|can't open|cannot open|could not open|unable to open|failed to open|failed to read|"
    r"could not read|cannot read|enoent|filenotfound|nosuchfile|errno 2\b|\(2:",
    re.IGNORECASE,
)
_PATH = re.compile(r"(?<![\w.:/-])(?P<path>/(?:[\w.@+-]+/)*[\w.@+-]+)")
_NOT_FILES = ("/proc/", "/sys/", "/dev/", "/bin/", "/usr/bin/", "/usr/local/bin/", "/sbin/")


def missing_files(line: str) -> list[str]:
    """Absolute paths a log line says are not there (open(), ENOENT, FileNotFoundException ...)."""
    if not _NO_FILE.search(line) or "executable file not found" in line:
        return []
    found: list[str] = []
    for match in _PATH.finditer(line):
        path = match["path"]
        file_like = "." in path.rsplit("/", 1)[-1] or path.count("/") > 1
        if file_like and not path.startswith(_NOT_FILES) and path not in found:
            found.append(path)
    return found
