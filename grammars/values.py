"""The per-request values a grammar template takes, and the fixed vocabularies."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

ToolName = Literal[
    "fetch_logs",
    "get_events",
    "inspect_object",
    "get_resource_usage",
    "check_service",
    "explain_scheduling",
    "finish",
]
TOOLS: Final[tuple[str, ...]] = ToolName.__args__

RootCause = Literal[
    "InsufficientResources",
    "UnsatisfiableScheduling",
    "ImagePull",
    "MissingConfig",
    "BadConfigValue",
    "DependencyUnavailable",
    "OOMKilled",
    "ProbeFailure",
    "ApplicationError",
    "Unknown",
]
ROOT_CAUSES: Final[tuple[str, ...]] = RootCause.__args__


class TemplateValues(BaseModel):
    """Names that exist for this request; each template uses the subset it mentions.

    `objects` are "Kind/name" strings; `steps` are the step numbers evidence may cite.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: tuple[ToolName, ...] = ()
    pods: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    steps: tuple[int, ...] = ()
    root_causes: tuple[RootCause, ...] = Field(default=ROOT_CAUSES)
