"""get_events: what the cluster said about an object (scheduler, kubelet, controllers), newest last."""

from __future__ import annotations

from smart_sre.investigation.tools.base import (
    Tool,
    ToolContext,
    bound,
    cut,
)
from smart_sre.investigation.tools.objects import split_ref
from smart_sre_grammars.models import ObjectArgs

_MAX_EVENTS = 15


def _sort_key(event: dict) -> str:
    return event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or ""


def event_lines(events: list[dict]) -> list[str]:
    lines = []
    for event in sorted(events, key=_sort_key)[-_MAX_EVENTS:]:
        count = event.get("count") or 1
        repeated = f" (x{count})" if count > 1 else ""
        lines.append(
            f"{event.get('type', 'Normal')} {event.get('reason', '')}{repeated}: {cut(event.get('message', ''), 300)}"
        )
    return lines


async def list_events(ctx: ToolContext, kind: str, name: str) -> list[dict]:
    selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    namespace = None if kind == "Node" else ctx.namespace
    return await ctx.cluster.list("Event", namespace, field_selector=selector)


async def run(ctx: ToolContext, args: ObjectArgs) -> str:
    kind, name = split_ref(args.object)
    events = await list_events(ctx, kind, name)
    if not events:
        return f"no events for {kind}/{name}"
    return bound(ctx.redactor.redact("\n".join([f"events for {kind}/{name}:", *event_lines(events)])))


TOOL = Tool(
    name="get_events",
    description="recent events of an object (scheduling failures, image pulls, probe failures, kills)",
    args_model=ObjectArgs,
    run=run,
    needs=("objects",),
)
