"""Pydantic mirrors of the grammar templates, for code that consumes the model's answers.

Validate with ``parse(name, data, values)``: the template values travel in the validation context, so
the mirrors reject the same names the rendered schema rejects (tests/inference/test_grammars.py
checks that the two agree).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
)

from smart_sre_grammars.values import RootCause, TemplateValues

__all__ = ["Action", "Final", "Findings", "Step", "parse"]


def _member(key: str) -> AfterValidator:
    """Accept only names listed under `key` in the request's template values, when they are given."""

    def check(value: Any, info: ValidationInfo) -> Any:
        values = (info.context or {}).get("values")
        if values is not None and value not in getattr(values, key):
            raise ValueError(f"{value!r} is not one of this request's {key}")
        return value

    return AfterValidator(check)


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


Text240 = Annotated[str, StringConstraints(min_length=1, max_length=240)]


class FetchLogsArgs(_Contract):
    pod: Annotated[str, _member("pods")]
    container: Annotated[str, _member("containers")]
    previous: bool
    tail: Annotated[int, Field(ge=1, le=200)]


class ObjectArgs(_Contract):
    object: Annotated[str, _member("objects")]


class NodeArgs(_Contract):
    node: Annotated[str, _member("nodes")]


class ServiceArgs(_Contract):
    name: Annotated[str, _member("services")]
    port: Annotated[int, Field(ge=1, le=65535)]


class PodArgs(_Contract):
    pod: Annotated[str, _member("pods")]


def _tool(name: str) -> Any:
    return Annotated[Literal[name], _member("tools")]  # type: ignore[valid-type]


class FetchLogs(_Contract):
    tool: _tool("fetch_logs")
    args: FetchLogsArgs


class GetEvents(_Contract):
    tool: _tool("get_events")
    args: ObjectArgs


class InspectObject(_Contract):
    tool: _tool("inspect_object")
    args: ObjectArgs


class GetResourceUsage(_Contract):
    tool: _tool("get_resource_usage")
    args: NodeArgs


class CheckService(_Contract):
    tool: _tool("check_service")
    args: ServiceArgs


class ExplainScheduling(_Contract):
    tool: _tool("explain_scheduling")
    args: PodArgs


class Finish(_Contract):
    tool: _tool("finish")


Action = Annotated[
    FetchLogs | GetEvents | InspectObject | GetResourceUsage | CheckService | ExplainScheduling | Finish,
    Field(discriminator="tool"),
]


class Step(_Contract):
    observation: Text240
    thought: Text240
    action: Action


class Findings(_Contract):
    summary: Annotated[str, StringConstraints(min_length=1, max_length=400)]
    rootCause: Annotated[RootCause, _member("root_causes")]
    confidence: Literal["low", "medium", "high"]
    evidence: Annotated[list[Annotated[int, _member("steps")]], Field(max_length=6)]


class Final(_Contract):
    findings: Findings


def parse(name: str, data: Any, values: TemplateValues | None = None) -> Step | Final:
    """Validate a decoded answer of grammar `name`; with `values`, names must exist in them."""
    context = {"values": values}
    if name == "step":
        return Step.model_validate(data, context=context)
    if name == "final":
        return Final.model_validate(data, context=context)
    raise ValueError(f"unknown grammar {name!r}")
