"""Crashes on an unreachable dependency: connection refused, unknown host, timeouts.

The env says where the app dials (REDIS_HOST, DATABASE_URL, DEPENDS_ON ...); the namespace says what
is really there. A host that names no Service, while another Service exposes the port, is a config
error with a fix; a Service without ready endpoints is a dependency that is down, fixed elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import replace

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
)
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.mentions import EnvDependency
from smart_sre.investigation.tools.check_service import ready_addresses
from smart_sre.k8s.owners import pod_spec

_FAILURE = re.compile(
    r"connection refused|econnrefused|no such host|enotfound|name or service not known|unknownhostexception|"
    r"could not resolve|timed out|i/o timeout|etimedout|connect(?:ion)? timeout|timeout connecting|"
    r"unreachable|cannot connect|error \d+ connecting",
    re.IGNORECASE,
)


def failure_lines(evidence: Evidence) -> list[str]:
    return [line for line in evidence.log_text().splitlines() if _FAILURE.search(line)]


def _service_name(dependency: EnvDependency, namespace: str) -> str | None:
    """The Service a host names in the pod's namespace (None: another namespace or not a Service name)."""
    parts = dependency.host.split(".")
    if len(parts) > 1 and (
        parts[1] != namespace or ".".join(parts[2:]) not in ("", "svc", "svc.cluster.local")
    ):
        return None
    return parts[0]


def _ports(service: dict) -> list[int]:
    return [int(p["port"]) for p in (service.get("spec") or {}).get("ports") or [] if "port" in p]


def _literal_env(env: list[dict], name: str) -> int | None:
    """Index of the env entry that sets `name` to a literal value: the only kind a patch can rewrite."""
    return next((i for i, e in enumerate(env) if e.get("name") == name and "value" in e), None)


def _container(evidence: Evidence, dependency: EnvDependency) -> tuple[str, str, dict] | None:
    """Where the container whose env names the dependency sits in the object a fix changes."""
    return container_pointer(evidence, pod_spec(evidence.pod)["containers"][dependency.container]["name"])


def _similarity(a: str, b: str) -> int:
    tokens_a, tokens_b = set(re.split(r"[-_.]", a)), set(re.split(r"[-_.]", b))
    return len(tokens_a & tokens_b) * 10 + (5 if b.startswith(a) or a.startswith(b) else 0)


def analyze(evidence: Evidence) -> list[Candidate]:
    failures = failure_lines(evidence)
    if not failures:
        return []
    services = {s["metadata"]["name"]: s for s in evidence.services}
    candidates = []
    for dependency in evidence.dependencies:
        name = _service_name(dependency, evidence.namespace)
        if name is None:
            continue
        if dependency.port is None:  # *_HOST without *_PORT: the port the pod dials it at, if known
            dialled = [port for host, port in evidence.dials if host == dependency.host]
            dependency = replace(dependency, port=dialled[0] if dialled else None)
        mentioned = [
            line
            for line in failures
            if dependency.host in line or (dependency.port and str(dependency.port) in line)
        ]
        facts = tuple(quote(line) for line in (mentioned or failures)[:2])
        weight = 1.0 if mentioned else 0.8
        service = services.get(name)
        if service is None:
            candidates.append(_missing_service(evidence, dependency, name, services, facts, weight))
        elif dependency.port and dependency.port not in _ports(service):
            candidates.append(_wrong_port(evidence, dependency, service, facts, weight))
        elif not ready_addresses(evidence.endpoints.get(name)):
            candidates.append(
                Candidate(
                    root_cause=RootCause.DEPENDENCY_UNAVAILABLE,
                    summary=(
                        f"{dependency.name} points at Service {name}, which exists but has no ready endpoints: "
                        f"the pods behind it are down, so the app cannot connect and crashes."
                    ),
                    score=0.8 * weight,
                    facts=(*facts, f"Service {name}: 0 ready endpoints"),
                    no_patch_reason=f"the fix is to make the pods behind Service {name} ready, not this workload",
                )
            )
    return candidates


def _missing_service(
    evidence: Evidence,
    dependency: EnvDependency,
    name: str,
    services: dict[str, dict],
    facts: tuple[str, ...],
    weight: float,
) -> Candidate:
    exposing = [
        s
        for s in services.values()
        if (dependency.port is None or dependency.port in _ports(s))
        and ready_addresses(evidence.endpoints.get(s["metadata"]["name"]))
    ]
    exposing.sort(key=lambda s: (-_similarity(name, s["metadata"]["name"]), s["metadata"]["name"]))
    port = f":{dependency.port}" if dependency.port else ""
    if not exposing:
        return Candidate(
            root_cause=RootCause.DEPENDENCY_UNAVAILABLE,
            summary=(
                f"{dependency.name}={dependency.value} names Service {name}, which does not exist in namespace "
                f"{evidence.namespace}, and no other Service with ready endpoints exposes port{port or ' it needs'}."
            ),
            score=0.75 * weight,
            facts=(*facts, f"Service {name} does not exist"),
            no_patch_reason=f"no existing Service serves {name}{port}; deploy it first",
        )
    replacement = exposing[0]["metadata"]["name"]
    located = _container(evidence, dependency)
    patch = None
    if located is not None:
        target, pointer, container = located
        env = container.get("env") or []
        index = _literal_env(env, dependency.name)
        if index is not None:
            patch = ProposedPatch(
                target,
                [
                    {
                        "op": "replace",
                        "path": f"{pointer}/env/{index}/value",
                        "value": dependency.with_host(replacement),
                    }
                ],
            )
    return Candidate(
        root_cause=RootCause.BAD_CONFIG_VALUE,
        summary=(
            f"The app cannot reach {name}{port}: {dependency.name}={dependency.value} names a Service that does "
            f"not exist in namespace {evidence.namespace}. Service {replacement} exposes port{port or 's'} with "
            f"ready endpoints; point {dependency.name} at it."
        ),
        score=0.9 * weight,
        patch=patch,
        facts=(*facts, f"Service {name} does not exist; {replacement} exposes{port or ' its ports'}"),
        no_patch_reason=None if patch else f"{dependency.name} is not set on the workload's template",
    )


def _wrong_port(
    evidence: Evidence, dependency: EnvDependency, service: dict, facts: tuple[str, ...], weight: float
) -> Candidate:
    name = service["metadata"]["name"]
    ports = _ports(service)
    located = _container(evidence, dependency)
    patch = None
    if len(ports) == 1 and located is not None:
        target, pointer, container = located
        env = container.get("env") or []
        port_env = next((i for i, e in enumerate(env) if e.get("name") == dependency.port_env), None)
        if port_env is not None:
            operation = {"op": "replace", "path": f"{pointer}/env/{port_env}/value", "value": str(ports[0])}
        else:
            index = _literal_env(env, dependency.name)
            value = dependency.value.replace(
                f"{dependency.host}:{dependency.port}", f"{dependency.host}:{ports[0]}"
            )
            operation = (
                {"op": "replace", "path": f"{pointer}/env/{index}/value", "value": value}
                if index is not None and value != dependency.value
                else None
            )
        patch = ProposedPatch(target, [operation]) if operation else None
    return Candidate(
        root_cause=RootCause.BAD_CONFIG_VALUE,
        summary=(
            f"The app dials {name}:{dependency.port}, but Service {name} exposes only port(s) "
            f"{', '.join(map(str, ports))}; the configured port is wrong."
        ),
        score=0.85 * weight,
        patch=patch,
        facts=(*facts, f"Service {name} ports: {', '.join(map(str, ports))}"),
        no_patch_reason=None if patch else "the right port is ambiguous or not set on the template",
    )
