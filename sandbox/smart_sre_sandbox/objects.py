"""Stored objects as the API server hands them out: JSON copies, views and timestamps.

The store (reads, watch events), the watch fan-out, the namespace controller and the simulation's
caches all copy objects; the simulation's clock and the store stamp them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, immutable leaves), ~3.5x faster than copy.deepcopy.

    Every read and every watch event copies whole objects, so with 1,000s of pods this is the
    sandbox's hottest path.
    """
    if type(value) is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if type(value) is list:
        return [copy_json(item) for item in value]
    return value


def view(rt: ResourceType, obj: dict, *, managed_fields: bool = True) -> dict:
    """A copy of a stored object to hand out; without ``managed_fields``, one with none.

    managedFields entries are copied but their fieldsV1 trees are shared: they are as large as the
    rest of the object, and neither the store (managed_fields builds new sets) nor a reader changes
    one in place.
    """
    result = {}
    for key, value in obj.items():
        if key != "metadata":
            result[key] = copy_json(value)
            continue
        meta = result[key] = {}
        for field_name, member in value.items():
            if field_name != "managedFields":
                meta[field_name] = copy_json(member)
            elif managed_fields:
                meta[field_name] = [dict(entry) for entry in member]
    result["apiVersion"] = rt.api_version
    result["kind"] = rt.kind
    return result


def rfc3339(moment: datetime) -> str:
    """The API server's timestamp form: second precision, UTC, `Z` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
