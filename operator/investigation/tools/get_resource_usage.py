"""get_resource_usage: how full a node is — allocatable versus the requests of the pods bound there."""

from __future__ import annotations

from smart_sre.investigation.scheduling import allocatable, requested_on
from smart_sre.investigation.tools.base import Tool, ToolContext, bound
from smart_sre.k8s import quantity
from smart_sre_grammars.models import NodeArgs


async def run(ctx: ToolContext, args: NodeArgs) -> str:
    node = await ctx.cluster.get("Node", None, args.node)
    if node is None:
        return f"Node/{args.node} does not exist"
    pods = await ctx.cluster.list("Pod", None, field_selector=f"spec.nodeName={args.node}")
    free = allocatable(node)
    used = requested_on(pods)
    lines = [f"node {args.node}: {len(pods)} pods bound"]
    for resource, fmt in (("cpu", quantity.format_cpu), ("memory", quantity.format_memory)):
        share = f" ({used[resource] * 100 / free[resource]:.0f}%)" if free[resource] else ""
        lines.append(
            f"{resource}: allocatable {fmt(free[resource])}, requested {fmt(used[resource])}{share}, "
            f"free {fmt(max(free[resource] - used[resource], 0))}"
        )
    metrics = await ctx.cluster.node_metrics(args.node)
    if metrics:
        usage = metrics.get("usage") or {}
        lines.append(f"metrics.k8s.io usage: cpu={usage.get('cpu')} memory={usage.get('memory')}")
    else:
        lines.append("metrics.k8s.io: not served by this cluster")
    return bound(ctx.redactor.redact("\n".join(lines)))


TOOL = Tool(
    name="get_resource_usage",
    description="a node's allocatable cpu/memory versus the requests of the pods bound to it",
    args_model=NodeArgs,
    run=run,
    needs=("nodes",),
)
