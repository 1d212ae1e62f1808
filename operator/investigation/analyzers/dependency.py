"""Crashes on an unreachable dependency: connection refused, unknown host, timeouts.

The env says where each container dials (REDIS_HOST + REDIS_PORT, DATABASE_URL, host:port lists, in any
address form: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`); the Services in reach, in any
namespace, say what is really there. An address naming no Service, while another Service serves the
port with ready endpoints, is a config error with a fix (the closest name, written in the form the user
wrote); a port the Service does not serve is one too; a Service without ready endpoints is a dependency
that is down, fixed elsewhere. Only containers whose logs show a failure are blamed, and each finding
names that container and its env var. A host only the logs name (set in a config file) gets findings.
"""

from __future__ import annotations

from dataclasses import dataclass

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
)
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.mentions import (
    Address,
    EnvDependency,
    failed_hosts,
    failed_ports,
    is_failure,
    parse_address,
    with_dialled_port,
)
from smart_sre.investigation.tools.check_service import likeness, port_entry, service_ports

_LOGGED = "the app's own configuration (named only in its logs)"
# How alike a Service's name must be to stand in for one in another namespace (or without a known port).
_ALIKE = 0.6


def failure_lines(evidence: Evidence) -> list[str]:
    return [line for line in evidence.log_text().splitlines() if is_failure(line)]


@dataclass(frozen=True)
class _Dial:
    """One address a failing container dials, read against the Services in reach."""

    dependency: EnvDependency
    address: Address
    namespace: str  # where the address resolves
    facts: tuple[str, ...]
    weight: float  # 1.0 when a failure line names it, less when the container only fails somehow

    @property
    def said(self) -> str:
        """'container orders: DB_HOST=postgres' (and where a ConfigMap supplies it)."""
        d = self.dependency
        if d.source == _LOGGED:
            return f"container {d.container} dials {d.host} (named only in its logs)"
        source = f" (from {d.source})" if d.source else ""
        return f"container {d.container}: {d.name}={d.value}{source}"

    @property
    def port(self) -> str:
        d = self.dependency
        return f"{d.port}" if d.port is not None else (d.port_name or "")


def _resolves(evidence: Evidence, host: str) -> tuple[Address, str] | None:
    """The address and the namespace it resolves in; None for a host outside the cluster's Services."""
    address = parse_address(host)
    if address is None:
        return None
    namespace = address.where(evidence.namespace)
    known = evidence.reach.namespaces() | {evidence.namespace}
    if address.suffix or namespace in known or any(likeness(namespace, k) >= 0.8 for k in known):
        return address, namespace
    return None  # `name.tld`: two labels naming no namespace in reach are a public host


def _mentions(line: str, dependency: EnvDependency) -> bool:
    hosts = failed_hosts(line)
    return (
        dependency.host in hosts
        or dependency.host.split(".")[0] in hosts
        or (dependency.port is not None and dependency.port in failed_ports(line))
    )


def analyze(evidence: Evidence) -> list[Candidate]:
    candidates: list[Candidate] = []
    explained: set[str] = set()
    for dependency in evidence.dependencies:
        failures = [
            line for line in evidence.logs.get(dependency.container, "").splitlines() if is_failure(line)
        ]
        located = _resolves(evidence, dependency.host)
        if not failures or located is None:
            continue
        dependency = with_dialled_port(dependency, evidence.dials)
        mentioned = [line for line in failures if _mentions(line, dependency)]
        facts = tuple(quote(line) for line in (mentioned or failures)[:2])
        dial = _Dial(dependency, *located, facts, 1.0 if mentioned else 0.8)
        if (found := _judge(evidence, dial)) is not None:
            candidates.append(found)
            explained.add(dependency.host)
    candidates += _logged_hosts(evidence, explained)
    return candidates


def _judge(evidence: Evidence, dial: _Dial) -> Candidate | None:
    service = evidence.reach.get(dial.namespace, dial.address.service)
    if service is None:
        return _missing_service(evidence, dial)
    if (service.get("spec") or {}).get("type") == "ExternalName":
        return None
    d = dial.dependency
    entry = port_entry(service, d.port, d.port_name)
    if (d.port is not None or d.port_name) and entry is None:
        return _wrong_port(evidence, dial, service)
    if evidence.reach.ready(service, entry) == 0:
        return _down(dial, service, entry)
    return None


def _down(dial: _Dial, service: dict, entry: dict | None) -> Candidate:
    name = f"{service['metadata']['name']} (namespace {dial.namespace})"
    port = f" for port {entry['port']}" if entry else ""
    return Candidate(
        root_cause=RootCause.DEPENDENCY_UNAVAILABLE,
        summary=(
            f"{dial.said} names Service {name}, which exists but has no ready endpoints{port}: the "
            f"dependency itself is down, so the app cannot connect and crashes."
        ),
        score=0.8 * dial.weight,
        facts=(*dial.facts, f"Service {service['metadata']['name']}: 0 ready endpoints{port}"),
        no_patch_reason=(
            f"the fix is to make the pods behind Service {service['metadata']['name']} ready, not this workload"
        ),
    )


def _serving(evidence: Evidence, dial: _Dial) -> list[tuple[float, dict]]:
    """(likeness, Service) of the Services that could stand in: serving the port with ready endpoints, in
    the address's namespace (any name when the port is known) or elsewhere (a close name), best first."""
    d = dial.dependency
    wanted = dial.address.service
    found = []
    for service in evidence.reach.services:
        entry = port_entry(service, d.port, d.port_name)
        ports_known = d.port is not None or d.port_name
        if (ports_known and entry is None) or not evidence.reach.ready(service, entry):
            continue
        alike = likeness(wanted, service["metadata"]["name"])
        here = service["metadata"].get("namespace") == dial.namespace
        if (here and ports_known) or alike >= _ALIKE:
            found.append((alike + (1.0 if here else 0.0), service))
    found.sort(key=lambda item: (-item[0], item[1]["metadata"]["name"]))
    return found


def _missing_service(evidence: Evidence, dial: _Dial) -> Candidate:
    d = dial.dependency
    port = f":{dial.port}" if dial.port else ""
    serving = _serving(evidence, dial)
    missing = f"Service {dial.address.service} does not exist in namespace {dial.namespace}"
    if not serving:
        return Candidate(
            root_cause=RootCause.DEPENDENCY_UNAVAILABLE,
            summary=(
                f"{dial.said}: {missing}, and no Service in reach serves "
                f"{f'port {dial.port}' if dial.port else 'a port it needs'} with ready endpoints."
            ),
            score=0.75 * dial.weight,
            facts=(*dial.facts, missing),
            no_patch_reason=f"no Service in reach serves {dial.address.service}{port}; deploy it first",
        )
    service = serving[0][1]
    name, namespace = service["metadata"]["name"], service["metadata"].get("namespace", evidence.namespace)
    host = dial.address.spelled(name, namespace, evidence.namespace)
    patch, reason = _env_patch(evidence, d, d.with_host(host))
    return Candidate(
        root_cause=RootCause.BAD_CONFIG_VALUE,
        summary=(
            f"{dial.said}: {missing}; Service {name} (namespace {namespace}) serves "
            f"{f'port {dial.port}' if dial.port else 'it'} with ready endpoints. Point {d.name} at {host}."
        ),
        score=0.9 * dial.weight,
        patch=patch,
        facts=(*dial.facts, f"Service {dial.address.service} does not exist; {host} serves{port or ' it'}"),
        no_patch_reason=reason,
    )


def _env_patch(
    evidence: Evidence, dependency: EnvDependency, value: str, env_name: str | None = None
) -> tuple[ProposedPatch | None, str | None]:
    """The patch setting the container's literal env var (the dependency's, or `env_name`) to `value`."""
    env_name = env_name or dependency.name
    if dependency.source and env_name == dependency.name:
        return None, f"{dependency.name} comes from {dependency.source}; change it there to {value}"
    located = container_pointer(evidence, dependency.container)
    if located is None:
        return None, f"container {dependency.container} is not on the workload's template"
    target, pointer, container = located
    index = next(
        (i for i, e in enumerate(container.get("env") or []) if e.get("name") == env_name and "value" in e),
        None,
    )
    if index is None:
        return None, f"{env_name} is not set literally on the workload's template"
    return ProposedPatch(
        target, [{"op": "replace", "path": f"{pointer}/env/{index}/value", "value": value}]
    ), None


def _right_port(service: dict, dependency: EnvDependency) -> dict | None:
    """The Service port the app meant: the one whose target is the dialled number, else the only one."""
    ports = service_ports(service)
    by_target = [p for p in ports if dependency.port is not None and p.get("targetPort") == dependency.port]
    if len(by_target) == 1:
        return by_target[0]
    return ports[0] if len(ports) == 1 else None


def _wrong_port(evidence: Evidence, dial: _Dial, service: dict) -> Candidate:
    d = dial.dependency
    name = service["metadata"]["name"]
    shown = ", ".join(
        f"{p['port']}" + (f" ({p['name']})" if p.get("name") else "") for p in service_ports(service)
    )
    right = _right_port(service, d)
    patch, reason = None, "the right port is ambiguous"
    if right is not None and not evidence.reach.ready(service, right):
        reason = f"Service {name} has no ready endpoints for port {right['port']} either"
    elif right is not None and d.port_env:
        patch, reason = _env_patch(evidence, d, str(right["port"]), d.port_env)
    elif right is not None:
        patch, reason = _env_patch(evidence, d, d.with_port(int(right["port"])))
    fix = f"; {d.port_env or d.name} should dial port {right['port']}" if right is not None else ""
    return Candidate(
        root_cause=RootCause.BAD_CONFIG_VALUE,
        summary=(
            f"{dial.said} dials {d.host}:{dial.port}, but Service {name} (namespace "
            f"{dial.namespace}) serves only port(s) {shown}{fix}: the configured port is wrong."
        ),
        score=0.85 * dial.weight,
        patch=patch,
        facts=(*dial.facts, f"Service {name} ports: {shown}"),
        no_patch_reason=None if patch else reason,
    )


def _logged_hosts(evidence: Evidence, explained: set[str]) -> list[Candidate]:
    """Hosts only a failing log line names (set in a config file or the code): judged the same way, but
    the fix is the app's own configuration, so findings only."""
    candidates = []
    for container, text in evidence.logs.items():
        for line in filter(is_failure, text.splitlines()):
            for host in failed_hosts(line):
                located = _resolves(evidence, host)
                if host in explained or located is None:
                    continue
                explained.add(host)
                port = next(iter(failed_ports(line)), None)
                logged = EnvDependency(container, None, host, host, host, port, source=_LOGGED)
                if (found := _judge(evidence, _Dial(logged, *located, (quote(line),), 0.8))) is not None:
                    candidates.append(found)
    return candidates
