"""Garbage collection by ownerReferences, as kube-controller-manager's garbage collector does it.

The store calls it when an object is deleted or removed. Background: the owner goes first, then its
dependents. Foreground: the owner stays (finalizer ``foregroundDeletion``) until its dependents are gone.
Orphan: dependents lose the ownerReference. It writes through `Registry`, never the store's internals.
"""

from __future__ import annotations

import copy

from .managed_fields import Writer
from .registry import Registry
from .resources import ResourceType

FOREGROUND = "foregroundDeletion"
COLLECTOR = Writer("kube-controller-manager")  # the garbage collector's field manager


def _owned_by(obj: dict, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def dependents(registry: Registry, uid: str) -> list[tuple[ResourceType, dict]]:
    return [(rt, obj) for rt, obj in registry.objects() if _owned_by(obj, uid)]


def orphan(registry: Registry, uid: str) -> None:
    """Strip the owner's reference from every dependent instead of deleting them."""
    for rt, obj in dependents(registry, uid):
        updated = copy.deepcopy(obj)
        refs = [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != uid]
        if refs:
            updated["metadata"]["ownerReferences"] = refs
        else:
            updated["metadata"].pop("ownerReferences")
        registry.write_stored(rt, obj, updated, COLLECTOR)


def collect(registry: Registry, owner: dict, propagation: str) -> None:
    """Delete the dependents of ``owner`` (gone already for Background, marked for Foreground)."""
    for rt, obj in dependents(registry, owner["metadata"]["uid"]):
        if not obj["metadata"].get("deletionTimestamp"):
            registry.delete_stored(rt, obj, propagation)
    if propagation == "Foreground":
        _finish_foreground(registry, owner["metadata"]["uid"])


def release_owners(registry: Registry, gone: dict) -> None:
    """A dependent disappeared: owners waiting on it in foreground deletion may now go."""
    for ref in gone["metadata"].get("ownerReferences") or []:
        _finish_foreground(registry, ref.get("uid", ""))


def _finish_foreground(registry: Registry, uid: str) -> None:
    owner = next(((rt, o) for rt, o in registry.objects() if o["metadata"]["uid"] == uid), None)
    if owner is None:
        return
    rt, obj = owner
    if FOREGROUND not in (obj["metadata"].get("finalizers") or []) or dependents(registry, uid):
        return
    updated = copy.deepcopy(obj)
    updated["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != FOREGROUND]
    registry.write_stored(rt, obj, updated, COLLECTOR)
