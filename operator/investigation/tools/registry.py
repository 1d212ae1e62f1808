"""The tool registry, and the step grammar's values and parsing built on it.

The step grammar (smart_sre_grammars "step") names only the tools listed here and, for every
argument, only names from the inventory, so whatever the logs say, a step can only read objects
that exist around the pod. `parse_step` re-checks the same rules on the model's output with the
grammar's own models, so the allowlist never rests on the decoder alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from smart_sre.investigation.tools import (
    check_service,
    explain_scheduling,
    fetch_logs,
    get_events,
    get_resource_usage,
    inspect_object,
)
from smart_sre.investigation.tools.base import Inventory, Tool
from smart_sre_grammars import models as grammar
from smart_sre_grammars.values import TemplateValues

FINISH = "finish"

TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        fetch_logs.TOOL,
        get_events.TOOL,
        inspect_object.TOOL,
        get_resource_usage.TOOL,
        check_service.TOOL,
        explain_scheduling.TOOL,
    )
}


class StepRejected(ValueError):
    """A step named a tool or an argument outside what the registry and the inventory allow."""


def step_values(inventory: Inventory, *, allow_finish: bool = True) -> TemplateValues:
    """Template values for the step grammar: the usable tools and the names they may take."""
    everything = inventory.template_values(tuple(TOOLS))
    tools = tuple(name for name, tool in TOOLS.items() if tool.usable(everything))
    return inventory.template_values(tools + ((FINISH,) if allow_finish else ()))


def parse_step(data: object, values: TemplateValues) -> grammar.Step:
    """The model's step, validated against the grammar's models and this request's names."""
    try:
        step = grammar.parse("step", data, values)
    except ValidationError as error:
        first = error.errors()[0]
        where = "/".join(str(part) for part in first["loc"])
        raise StepRejected(f"step rejected at {where}: {first['msg']}") from error
    assert isinstance(step, grammar.Step)
    return step


def tool_for(action: BaseModel) -> Tool | None:
    """The registered tool an action names; None for `finish`."""
    name = action.tool  # type: ignore[attr-defined]
    return None if name == FINISH else TOOLS[name]
