"""What every tool shares: the context it runs in, the inventory of what exists, the size bound."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from smart_sre.investigation.redaction import Redactor
from smart_sre.k8s.cluster import ClusterError, ClusterReader
from smart_sre_grammars.values import TemplateValues

# A tool's answer is read by a small model with a small context: keep each one short.
MAX_OUTPUT_CHARS = 1600


class Inventory(BaseModel):
    """The names a step may use: objects that exist (or that the pod references) in the namespace."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    pod: str
    containers: tuple[str, ...]
    objects: tuple[str, ...]  # "Kind/name" of what exists or what the pod references
    nodes: tuple[str, ...]
    hosts: tuple[str, ...]  # existing Services plus hosts the pod's env and logs mention

    def template_values(self, tools: tuple[str, ...]) -> TemplateValues:
        """The step grammar's values: only names that exist (or the pod refers to) can be chosen."""
        return TemplateValues(
            tools=tools,
            pods=(self.pod,),
            containers=self.containers,
            objects=self.objects,
            nodes=self.nodes,
            services=self.hosts,
        )


@dataclass
class ToolContext:
    cluster: ClusterReader
    namespace: str
    pod: dict
    redactor: Redactor


@dataclass(frozen=True)
class Tool:
    """A read-only tool; `args_model` is its action's argument model in the step grammar."""

    name: str
    description: str  # one line, shown to the model
    args_model: type[BaseModel]
    run: Callable[[ToolContext, Any], Awaitable[str]]
    needs: tuple[str, ...]  # the TemplateValues fields its arguments choose from

    async def call(self, ctx: ToolContext, args: Any) -> str:
        """Run the tool; a refusal by the API server is something the agent observed, not a crash."""
        try:
            return await self.run(ctx, args)
        except ClusterError as error:
            if error.status == 403:
                return (
                    f"{self.name}: forbidden ({error}). smart-sre's RBAC is read-only and never reads "
                    "Secret values; use what the other tools show."
                )
            return f"{self.name}: the API server did not answer ({error}); the evidence so far stands."

    def usable(self, values: TemplateValues) -> bool:
        """A tool whose arguments would have nothing to choose from is left out of the grammar."""
        return all(getattr(values, field) for field in self.needs)


def bound(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Cut text to `limit` characters, keeping the end of long outputs (errors come last in logs)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    return f"[... {dropped} earlier characters cut]\n" + text[-limit:]


def cut(text: str, limit: int) -> str:
    """Cut a single value to `limit` characters, keeping its start."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
