"""Garbage collection by ownerReferences, as kube-controller-manager's garbage collector does it.

Background: the owner goes first, then its dependents. Foreground: the owner stays (finalizer
``foregroundDeletion``) until its dependents are gone. Orphan: dependents lose the ownerReference.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from .managed_fields import Writer

if TYPE_CHECKING:
    from .resources import ResourceType
    from .store import Store

FOREGROUND = "foregroundDeletion"
COLLECTOR = Writer("kube-controller-manager")  # the garbage collector's field manager


def _owned_by(obj: dict, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def dependents(store: Store, uid: str) -> list[tuple[ResourceType, dict]]:
    return [(rt, obj) for rt, obj in store.objects() if _owned_by(obj, uid)]


def orphan(store: Store, uid: str) -> None:
    """Strip the owner's reference from every dependent instead of deleting them."""
    for rt, obj in dependents(store, uid):
        updated = copy.deepcopy(obj)
        refs = [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != uid]
        if refs:
            updated["metadata"]["ownerReferences"] = refs
        else:
            updated["metadata"].pop("ownerReferences")
        store._commit(rt, obj, updated, dry_run=False, writer=COLLECTOR)


def collect(store: Store, owner: dict, propagation: str) -> None:
    """Delete the dependents of ``owner`` (gone already for Background, marked for Foreground)."""
    for rt, obj in dependents(store, owner["metadata"]["uid"]):
        if not obj["metadata"].get("deletionTimestamp"):
            store._delete(rt, obj, propagation, None)
    if propagation == "Foreground":
        _finish_foreground(store, owner["metadata"]["uid"])


def release_owners(store: Store, gone: dict) -> None:
    """A dependent disappeared: owners waiting on it in foreground deletion may now go."""
    for ref in gone["metadata"].get("ownerReferences") or []:
        _finish_foreground(store, ref.get("uid", ""))


def _finish_foreground(store: Store, uid: str) -> None:
    owner = next(((rt, o) for rt, o in store.objects() if o["metadata"]["uid"] == uid), None)
    if owner is None:
        return
    rt, obj = owner
    if FOREGROUND not in (obj["metadata"].get("finalizers") or []) or dependents(store, uid):
        return
    updated = copy.deepcopy(obj)
    updated["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != FOREGROUND]
    store._commit(rt, obj, updated, dry_run=False, writer=COLLECTOR)
