"""check_service: does a Service of that name exist here, does it expose the port, has it ready endpoints.

This is the question behind "Connection refused to redis:6379".
"""

from __future__ import annotations

from smart_sre.investigation.tools.base import Tool, ToolContext, bound
from smart_sre_grammars.models import ServiceArgs


def _ports(service: dict) -> list[int]:
    return [int(p["port"]) for p in (service.get("spec") or {}).get("ports") or [] if "port" in p]


def ready_addresses(endpoints: dict | None, port: int | None = None) -> int:
    """Ready endpoint addresses (for `port` when given: an Endpoints port is the target port)."""
    count = 0
    for subset in (endpoints or {}).get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []]
        if port is None or not ports or port in ports:
            count += len(subset.get("addresses") or [])
    return count


def target_port(service: dict, port: int) -> int | None:
    """The numeric target port behind a Service port (None when it is a named port)."""
    for p in (service.get("spec") or {}).get("ports") or []:
        if p.get("port") == port:
            target = p.get("targetPort", port)
            return target if isinstance(target, int) else None
    return None


async def describe_service(ctx: ToolContext, name: str, port: int) -> str:
    host = name.split(".")[0]
    service = await ctx.cluster.get("Service", ctx.namespace, host)
    if service is None:
        others = await ctx.cluster.list("Service", ctx.namespace)
        existing = ", ".join(
            f"{s['metadata']['name']}:{'/'.join(str(p) for p in _ports(s)) or '-'}" for s in others[:20]
        )
        return (
            f"Service {host} does not exist in namespace {ctx.namespace}; "
            f"existing Services (name:ports): {existing or 'none'}"
        )
    ports = _ports(service)
    lines = [
        f"Service {host} exists in namespace {ctx.namespace}, ports: {', '.join(map(str, ports)) or 'none'}"
    ]
    if port not in ports:
        lines.append(f"port {port} is NOT exposed by Service {host}")
    endpoints = await ctx.cluster.get("Endpoints", ctx.namespace, host)
    total = ready_addresses(endpoints)
    lines.append(f"ready endpoints: {total}" + (" (no pod behind the Service is ready)" if not total else ""))
    if port in ports and total:
        target = target_port(service, port)
        if target is not None and not ready_addresses(endpoints, target):
            lines.append(f"no ready endpoint serves target port {target}")
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
