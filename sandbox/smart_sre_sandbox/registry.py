"""The store as the API server's own controllers see it: the garbage collector and the namespace controller.

The store calls those controllers on every delete and removal, and they write back through this
protocol, which the store implements: they never import the store, so the two form no cycle.
"""

from __future__ import annotations

from typing import Protocol

from .managed_fields import Writer
from .resources import ResourceType


class Registry(Protocol):
    def now(self) -> str:
        """The timestamp a write stamps now."""
        ...

    def resource(self, name: str, group: str | None = None) -> ResourceType: ...

    def objects(self) -> list[tuple[ResourceType, dict]]:
        """Every stored object (not a copy) with its preferred type."""
        ...

    def stored(self, rt: ResourceType) -> dict[tuple[str, str], dict]:
        """The stored objects of a kind by (namespace, name), not copies."""
        ...

    def write_stored(self, rt: ResourceType, stored: dict, new: dict, writer: Writer) -> dict:
        """Admit and store ``new``, a changed copy of ``stored``, as ``writer``."""
        ...

    def mark_stored(self, rt: ResourceType, stored: dict, marked: dict) -> None:
        """Store ``marked``, a copy of ``stored`` marked for deletion, without admission."""
        ...

    def purge_stored(self, rt: ResourceType, stored: dict) -> None:
        """Drop ``stored`` for good, with nothing to follow (no garbage collection)."""
        ...

    def delete_stored(
        self, rt: ResourceType, stored: dict, propagation: str, grace: int | None = None
    ) -> dict:
        """Delete ``stored`` as a DELETE request would, with a propagationPolicy."""
        ...
