"""The namespace lifecycle, as the NamespaceLifecycle admission plugin and the namespace controller run it.

The store calls it: before creating a namespaced object (its namespace must exist and not be
terminating), on deleting a namespace (mark it Terminating, delete its content) and after removing a
namespaced object (a terminating namespace goes once empty). It writes through `Registry`.
"""

from __future__ import annotations

import copy

from .errors import forbidden, not_found
from .objects import view
from .registry import Registry
from .resources import ResourceType


def check_open(registry: Registry, rt: ResourceType, namespace: str, name: str) -> None:
    """New content needs a namespace that exists and is not being deleted."""
    namespaces = registry.resource("namespaces")
    ns = registry.stored(namespaces).get(("", namespace))
    if ns is None:
        raise not_found(namespaces, namespace)
    if ns["metadata"].get("deletionTimestamp"):
        raise forbidden(
            rt, name, f"unable to create new content in namespace {namespace} because it is being terminated"
        )


def terminate(registry: Registry, rt: ResourceType, existing: dict) -> dict:
    """Delete a namespace: mark it Terminating, delete what it holds, and drop it once empty."""
    name = existing["metadata"]["name"]
    marked = existing
    if not existing["metadata"].get("deletionTimestamp"):
        marked = copy.deepcopy(existing)
        marked["metadata"]["deletionTimestamp"] = registry.now()
        marked["metadata"]["deletionGracePeriodSeconds"] = 0
        marked.setdefault("status", {})["phase"] = "Terminating"
        registry.mark_stored(rt, existing, marked)
    for content_rt, obj in registry.objects():
        if content_rt.namespaced and obj["metadata"].get("namespace") == name:
            current = registry.stored(content_rt).get((name, obj["metadata"]["name"]))
            if current is not None and not current["metadata"].get("deletionTimestamp"):
                registry.delete_stored(content_rt, current, "Background")
    finish(registry, name)
    return view(rt, registry.stored(rt).get(("", name), marked))


def finish(registry: Registry, name: str) -> None:
    """Drop namespace ``name`` if it is terminating and holds nothing more."""
    namespaces = registry.resource("namespaces")
    ns = registry.stored(namespaces).get(("", name))
    if ns is None or not ns["metadata"].get("deletionTimestamp"):
        return
    if any(rt.namespaced and o["metadata"].get("namespace") == name for rt, o in registry.objects()):
        return
    registry.purge_stored(namespaces, ns)
