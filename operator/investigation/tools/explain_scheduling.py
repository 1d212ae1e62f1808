"""explain_scheduling: for each node, why the pod does not fit (resources, nodeSelector, affinity, taints,
inter-pod rules, topology spread)."""

from __future__ import annotations

from smart_sre.investigation.scheduling import NodeFit, Placement
from smart_sre.investigation.tools.base import Tool, ToolContext, bound
from smart_sre_grammars.models import PodArgs


async def placement(ctx: ToolContext) -> Placement:
    """The nodes and the pods bound to each: inter-pod rules and topology spread look across nodes."""
    nodes = await ctx.cluster.list("Node")
    pods = {}
    for node in nodes:
        name = node["metadata"]["name"]
        pods[name] = await ctx.cluster.list("Pod", None, field_selector=f"spec.nodeName={name}")
    return Placement(nodes, pods)


async def node_fits(ctx: ToolContext, pod: dict) -> list[NodeFit]:
    return (await placement(ctx)).fits(pod)


def fit_lines(fits: list[NodeFit]) -> list[str]:
    fitting = sum(fit.fits for fit in fits)
    lines = [f"{fitting}/{len(fits)} nodes can take the pod"]
    for fit in fits:
        lines.append(f"node {fit.node}: " + ("fits" if fit.fits else "; ".join(fit.reasons)))
    return lines


async def run(ctx: ToolContext, args: PodArgs) -> str:
    pod = await ctx.cluster.get("Pod", ctx.namespace, args.pod)
    if pod is None:
        return f"Pod/{args.pod} does not exist in namespace {ctx.namespace}"
    fits = await node_fits(ctx, pod)
    if not fits:
        return "the cluster has no nodes"
    return bound(ctx.redactor.redact("\n".join(fit_lines(fits))))


TOOL = Tool(
    name="explain_scheduling",
    description="per node, why the pod does not fit: resources, nodeSelector, affinity, taints",
    args_model=PodArgs,
    run=run,
    needs=("pods",),
)
