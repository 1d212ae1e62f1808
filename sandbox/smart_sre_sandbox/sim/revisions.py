"""ControllerRevisions: the history of pod templates the StatefulSet and DaemonSet controllers keep.

statefulsets.py and daemonsets.py call `record` on every pass, for the revision of the workload's
current template, and `prune` to keep `spec.revisionHistoryLimit` old ones. kubectl reads them:
`kubectl rollout history` lists the workload's revisions (their `revision` numbers, and the
`kubernetes.io/change-cause` annotation copied from the workload when the revision was made) and prints
one by applying its `data` to the workload; `kubectl rollout undo` sends that `data` back as a
strategic merge patch.

`data` is what the real controllers store: `{"spec":{"template":{"$patch":"replace",...}}}` with the
keys sorted, as Go encodes a map. kubectl compares it byte for byte with the same patch made from the
live workload ("skipped rollback (current template already matches revision N)"). A template that comes
back (an undo, or an edit back to an older template) reuses its old revision, renumbered as the newest,
as the real controllers do, so `rollout history` after an undo of 1 -> 2 lists 2 and 3.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError
from ..patching import strategic_merge_patch
from .controller import MERGE, Cluster
from .workloads import owner_reference, safe_hash, template_hash

RESOURCE = "controllerrevisions"
POD_LABEL = "controller-revision-hash"  # on a revision's pods; also a DaemonSet revision's own hash label
STATEFULSET_HASH = "controller.kubernetes.io/hash"  # a StatefulSet revision's hash label
_NAME_PREFIX_LIMIT = 223  # names stay within 253 characters with the hash


def restore_patch(template: dict) -> dict:
    """The `data` of a revision of `template`: the patch that puts the template back."""
    return {"spec": {"template": _sorted({"$patch": "replace", **template})}}


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def number(revision: dict) -> int:
    return int(revision.get("revision") or 0)


def template_of(owner: dict, revision: dict) -> dict:
    """The pod template `revision` restores on `owner` (what `rollout history --revision=N` prints)."""
    return strategic_merge_patch(owner["kind"], owner, revision["data"])["spec"]["template"]


@dataclass
class History:
    """One workload's revisions, oldest first; `update` is its current template's."""

    revisions: list[dict]
    update: dict
    collision_count: int

    def named(self, name: str) -> dict | None:
        return next((r for r in self.revisions if r["metadata"]["name"] == name), None)


async def record(cluster: Cluster, owner: dict, owned: list[dict]) -> History:
    """The workload's history with a revision for its current template: found, renumbered or created.

    `owned` are the ControllerRevisions it controls. The current template's revision is the newest: an
    older one with the same `data` is given the next number (a rollback), else a new one is made.
    """
    data = restore_patch(owner["spec"]["template"])
    revisions = sorted(owned, key=lambda r: (number(r), r["metadata"]["name"]))
    collision_count = int((owner.get("status") or {}).get("collisionCount") or 0)
    next_number = number(revisions[-1]) + 1 if revisions else 1
    equal = [r for r in revisions if r.get("data") == data]
    if equal and equal[-1] is revisions[-1]:
        return History(revisions, equal[-1], collision_count)
    if equal:
        meta = equal[-1]["metadata"]
        update = await cluster.store.patch(
            cluster.rt(RESOURCE), meta["namespace"], meta["name"], MERGE, {"revision": next_number}
        )
        return History([r for r in revisions if r is not equal[-1]] + [update], update, collision_count)
    update, collision_count = await _create(cluster, owner, data, next_number, collision_count)
    return History([*revisions, update], update, collision_count)


async def _create(
    cluster: Cluster, owner: dict, data: dict, revision: int, collision_count: int
) -> tuple[dict, int]:
    """Create the revision; a name taken by other content is a hash collision: count it, try the next."""
    meta, template = owner["metadata"], owner["spec"]["template"]
    rt = cluster.rt(RESOURCE)
    while True:
        if owner["kind"] == "StatefulSet":  # history.NewControllerRevision: a hash of the data
            label = STATEFULSET_HASH
            hash_ = safe_hash(json.dumps(data, separators=(",", ":")).encode(), collision_count)
        else:  # the DaemonSet controller's snapshot: the template's hash, as on its pods
            label, hash_ = POD_LABEL, template_hash(template, collision_count)
        name = f"{meta['name'][:_NAME_PREFIX_LIMIT]}-{hash_}"
        body: dict = {
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": {**((template.get("metadata") or {}).get("labels") or {}), label: hash_},
                "ownerReferences": [owner_reference(owner)],
            },
            "data": data,
            "revision": revision,
        }
        if meta.get("annotations"):
            body["metadata"]["annotations"] = dict(meta["annotations"])
        try:
            return await cluster.store.create(rt, body), collision_count
        except ApiError as error:
            if error.code != 409:
                raise
        existing = await cluster.store.get(rt, meta["namespace"], name)
        owners = existing["metadata"].get("ownerReferences") or []
        if existing.get("data") == data and any(ref.get("uid") == meta["uid"] for ref in owners):
            return existing, collision_count
        collision_count += 1


async def prune(cluster: Cluster, revisions: list[dict], live: set[str], excess: int) -> None:
    """Delete up to `excess` of `revisions` (oldest first), never one named in `live`."""
    for revision in revisions:
        if excess <= 0:
            return
        if revision["metadata"]["name"] not in live:
            await cluster.delete(RESOURCE, revision)
            excess -= 1
