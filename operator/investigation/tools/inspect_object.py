"""inspect_object: a `kubectl describe`-like summary of one object the failing pod depends on."""

from __future__ import annotations

from smart_sre.investigation.tools.base import Tool, ToolContext, bound
from smart_sre.investigation.tools.objects import CLUSTER_SCOPED, split_ref
from smart_sre.investigation.tools.render import object_lines
from smart_sre_grammars.models import ObjectArgs


async def run(ctx: ToolContext, args: ObjectArgs) -> str:
    kind, name = split_ref(args.object)
    namespace = None if kind in CLUSTER_SCOPED else ctx.namespace
    obj = await ctx.cluster.get(kind, namespace, name)
    if obj is None:
        where = "in the cluster" if namespace is None else f"in namespace {namespace}"
        return f"{kind}/{name} does not exist {where}"
    obj.setdefault("kind", kind)
    return bound(ctx.redactor.redact("\n".join(object_lines(obj))))


TOOL = Tool(
    name="inspect_object",
    description="describe an object: the pod, its owners, Services, Endpoints, ConfigMaps, Secrets (keys only), PVCs, Nodes",
    args_model=ObjectArgs,
    run=run,
    needs=("objects",),
)
