"""check_service: does the Service an address names exist, does it serve the port, has it ready endpoints.

This is the question behind "Connection refused to redis:6379". An address may name a Service of any
namespace (`svc`, `svc.ns`, `svc.ns.svc.cluster.local`), so the Services that could be meant are looked
for wherever the workload may reach: cluster-wide when the operator may list Services there (the shipped
ClusterRole may), else the pod's namespace and the namespaces the addresses name. Evidence gathering
calls `service_reach` once; the dependency analyzer and this tool read the same `ServiceReach`.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from smart_sre.investigation.mentions import parse_address
from smart_sre.investigation.tools.base import Tool, ToolContext, bound
from smart_sre.k8s.cluster import ClusterError
from smart_sre_grammars.models import ServiceArgs

logger = logging.getLogger(__name__)

# Namespaces whose Endpoints are listed besides the pod's own: enough for the Services a typo could mean.
_MAX_NAMESPACES = 8
_MAX_LISTED = 12


@dataclass
class ServiceReach:
    """The Services a workload may dial, in every namespace it may reach, and the Endpoints of those a
    dependency could mean ((namespace, name) -> Endpoints; a namespace absent here was not listed)."""

    namespace: str = ""
    services: list[dict] = field(default_factory=list)
    endpoints: dict[tuple[str, str], dict] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)  # namespaces whose Endpoints were listed
    cluster_wide: bool = False

    def get(self, namespace: str, name: str) -> dict | None:
        return next(
            (
                s
                for s in self.services
                if s["metadata"]["name"] == name and s["metadata"].get("namespace") == namespace
            ),
            None,
        )

    def namespaces(self) -> set[str]:
        return {self.namespace} | {s["metadata"].get("namespace", "") for s in self.services}

    def ready(self, service: dict, port: dict | None) -> int | None:
        """Ready addresses behind a Service port (any port when None); None when its Endpoints were not read."""
        namespace = service["metadata"].get("namespace", "")
        if namespace not in self.listed:
            return None
        return ready_addresses(self.endpoints.get((namespace, service["metadata"]["name"])), port)


def likeness(a: str, b: str) -> float:
    """How alike two names are, 0..1: shared dash/dot-separated words or close spelling."""
    words_a, words_b = set(re.split(r"[-_.]", a)), set(re.split(r"[-_.]", b))
    shared = len(words_a & words_b) / max(len(words_a), len(words_b))
    return max(shared, difflib.SequenceMatcher(None, a, b).ratio())


def service_ports(service: dict) -> list[dict]:
    return [p for p in (service.get("spec") or {}).get("ports") or [] if "port" in p]


def _ports(service: dict) -> list[int]:
    return [int(p["port"]) for p in service_ports(service)]


def port_entry(service: dict, port: int | None, name: str | None = None) -> dict | None:
    """The Service port an address dials: by number, or by the Service port's name."""
    return next(
        (
            p
            for p in service_ports(service)
            if (port is not None and p["port"] == port) or (name and p.get("name") == name)
        ),
        None,
    )


def ready_addresses(endpoints: dict | None, port: int | dict | None = None) -> int:
    """Ready endpoint addresses, for one Service port when given: an Endpoints port carries the Service
    port's name and the resolved target number, so a named port matches by name, an unnamed one by its
    numeric target (an int `port` is a target number)."""
    count = 0
    for subset in (endpoints or {}).get("subsets") or []:
        ports = subset.get("ports") or []
        if port is None or not ports or any(_serves(p, port) for p in ports):
            count += len(subset.get("addresses") or [])
    return count


def _serves(endpoint_port: dict, port: int | dict) -> bool:
    if isinstance(port, int):
        return endpoint_port.get("port") == port
    if port.get("name") or endpoint_port.get("name"):
        return endpoint_port.get("name") == port.get("name")
    target = port.get("targetPort", port["port"])
    return not isinstance(target, int) or endpoint_port.get("port") == target


async def service_reach(ctx: ToolContext, namespaces: Iterable[str], names: Iterable[str]) -> ServiceReach:
    """Services cluster-wide (or, without the right, here and in `namespaces`), and the Endpoints of the
    namespaces where a Service named like one of `names` lives."""
    own = ctx.namespace
    reach = ServiceReach(namespace=own)
    try:
        reach.services = await ctx.cluster.list("Service", None)
        reach.cluster_wide = True
    except ClusterError as error:
        if error.status != 403:
            raise
        logger.info("cannot list services cluster-wide: the pod's namespace and the named ones only")
        for namespace in sorted({own, *namespaces}):
            try:
                reach.services += await ctx.cluster.list("Service", namespace)
            except ClusterError as denied:
                if denied.status != 403:
                    raise
    reach.services.sort(
        key=lambda s: (s["metadata"].get("namespace") != own, s["metadata"].get("namespace", ""))
    )
    names = set(names)
    alike = sorted(
        (-max(likeness(n, s["metadata"]["name"]) for n in names), s["metadata"].get("namespace", ""))
        for s in reach.services
        if names
    )
    wanted = [
        own,
        *sorted(set(namespaces) - {own}),
        *(namespace for score, namespace in alike if score <= -0.6),
    ]
    for namespace in list(dict.fromkeys(wanted))[: _MAX_NAMESPACES + 1]:
        try:
            listed = await ctx.cluster.list("Endpoints", namespace)
        except ClusterError as error:
            if error.status != 403:
                raise
            continue
        reach.listed.add(namespace)
        reach.endpoints.update({(namespace, e["metadata"]["name"]): e for e in listed})
    return reach


def _shown(reach: ServiceReach, service: dict, own: str) -> str:
    namespace, name = service["metadata"].get("namespace", own), service["metadata"]["name"]
    ports = "/".join(
        f"{p['port']}" + (f"({p['name']})" if p.get("name") else "") for p in service_ports(service)
    )
    ready = reach.ready(service, None)
    return f"{name if namespace == own else f'{name}.{namespace}'}:{ports or '-'} ready={'?' if ready is None else ready}"


async def describe_service(ctx: ToolContext, name: str, port: int, reach: ServiceReach | None = None) -> str:
    """What a human checks for `name:port`: the Service, its ports, its ready endpoints; when it is not
    there, the Services in reach that could be meant (closest names first)."""
    address = parse_address(name) or parse_address(name.split(".")[0])
    host = address.service if address else name.split(".")[0]
    namespace = address.where(ctx.namespace) if address else ctx.namespace
    if reach is None:
        reach = await service_reach(ctx, {namespace}, {host})
    service = reach.get(namespace, host)
    if service is None:
        meant = sorted(reach.services, key=lambda s: -likeness(host, s["metadata"]["name"]))[:_MAX_LISTED]
        existing = ", ".join(_shown(reach, s, ctx.namespace) for s in meant)
        scope = "cluster-wide" if reach.cluster_wide else f"in {', '.join(sorted(reach.namespaces()))}"
        return (
            f"Service {host} does not exist in namespace {namespace}; "
            f"Services that could be meant ({scope}, name[.namespace]:ports): {existing or 'none'}"
        )
    lines = [
        f"Service {host} exists in namespace {namespace}, ports: {', '.join(map(str, _ports(service))) or 'none'}"
    ]
    entry = port_entry(service, port)
    if entry is None:
        lines.append(f"port {port} is NOT exposed by Service {host}")
    total = reach.ready(service, None)
    if total is not None:
        lines.append(
            f"ready endpoints: {total}" + (" (no pod behind the Service is ready)" if not total else "")
        )
    if entry is not None and total and not reach.ready(service, entry):
        lines.append(f"no ready endpoint serves port {port} (target {entry.get('targetPort', port)})")
    return "\n".join(lines)


async def run(ctx: ToolContext, args: ServiceArgs) -> str:
    return bound(ctx.redactor.redact(await describe_service(ctx, args.name, args.port)))


TOOL = Tool(
    name="check_service",
    description="does a Service exist in the namespace, which ports it exposes, whether endpoints are ready",
    args_model=ServiceArgs,
    run=run,
    needs=("services",),
)
