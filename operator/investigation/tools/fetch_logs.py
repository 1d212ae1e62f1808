"""fetch_logs: the last lines a container wrote, current run or the one before the last restart."""

from __future__ import annotations

from smart_sre.investigation.tools.base import Tool, ToolContext, bound
from smart_sre.k8s.cluster import ClusterError
from smart_sre_grammars.models import FetchLogsArgs


async def run(ctx: ToolContext, args: FetchLogsArgs) -> str:
    which = "previous run" if args.previous else "current run"
    try:
        text = await ctx.cluster.logs(
            ctx.namespace, args.pod, args.container, previous=args.previous, tail=args.tail
        )
    except ClusterError as error:
        return ctx.redactor.redact(f"logs of {args.pod}/{args.container} ({which}) unavailable: {error}")
    if not text.strip():
        return f"logs of {args.pod}/{args.container} ({which}): empty"
    return bound(
        f"logs of {args.pod}/{args.container} ({which}, last {args.tail} lines):\n{ctx.redactor.redact(text)}"
    )


TOOL = Tool(
    name="fetch_logs",
    description="last log lines of a container (previous=true: the run that crashed)",
    args_model=FetchLogsArgs,
    run=run,
    needs=("pods", "containers"),
)
