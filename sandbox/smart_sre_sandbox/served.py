"""The resource types the server serves: the built-in kinds, plus the versions of established CRDs.

The store resolves every request's type here and calls `ServedTypes.sync` whenever a
CustomResourceDefinition is stored or removed, so a CRD's resources are served from its creation on.
"""

from __future__ import annotations

from .crds import CustomResources
from .errors import ApiError
from .resources import BUILTIN_TYPES, ResourceType


class ServedTypes:
    """Built-in and custom types, in discovery order; the first of a (group, plural) is its preferred version."""

    def __init__(self) -> None:
        self.crds = CustomResources()
        self._types: list[ResourceType] = list(BUILTIN_TYPES)

    def resource(self, name: str, group: str | None = None) -> ResourceType:
        """Resolve ``pods``, ``Pod``, ``po``, ``deployments.apps`` or a CRD's names to its served type."""
        for rt in self._types:
            if (group is None or rt.group == group) and rt.matches(name):
                return rt
        raise ApiError(404, "NotFound", f'the server doesn\'t have a resource type "{name}"')

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at /apis/{group}/{version}/{plural}, if any."""
        for rt in self._types:
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def all(self) -> list[ResourceType]:
        return list(self._types)

    def preferred(self) -> dict[tuple[str, str], ResourceType]:
        """The type each storage key is read through when the caller names no version."""
        preferred: dict[tuple[str, str], ResourceType] = {}
        for rt in self._types:
            preferred.setdefault(rt.key, rt)
        return preferred

    def is_custom(self, rt: ResourceType) -> bool:
        return self.crds.schema_for(rt) is not None

    def sync(self, crd: dict | None, old: dict | None) -> list[ResourceType]:
        """Serve ``crd``'s versions instead of ``old``'s; the types no longer served are returned."""
        retired: list[ResourceType] = []
        if old is not None:
            retired = self.crds.unregister(old)
            self._types = [t for t in self._types if t not in retired]
        if crd is not None:
            self._types.extend(self.crds.register(crd))
        return retired
