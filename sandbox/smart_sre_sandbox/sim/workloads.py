"""What the workload controllers share: ownership (and adopting orphans), pod templates and their
hashes, IntOrString budgets, pod readiness."""

from __future__ import annotations

import copy
import json
import math

from ..selectors import selector_from_label_selector
from .controller import MERGE, Cluster
from .endpoints import is_ready
from .scheduling import is_terminal

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
HASH_LABEL = "pod-template-hash"


def safe_hash(data: bytes, collision_count: int = 0) -> str:
    """FNV-1a (32 bits) of `data`, written as kube-controller-manager writes its hashes: the decimal
    number through rand.SafeEncodeString, so `pod-template-hash` looks like ``5b6d8f8b6b``.

    A `collision_count` (a workload's status.collisionCount) is hashed in too, giving the next name
    to try when a name is taken by an object with other content.
    """
    digest = 0x811C9DC5
    for byte in data + (str(collision_count).encode() if collision_count else b""):
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in str(digest))


def template_hash(template: dict, collision_count: int = 0) -> str:
    """The `pod-template-hash` (Deployments) and `controller-revision-hash` (DaemonSets) of a template."""
    return safe_hash(json.dumps(template, sort_keys=True).encode(), collision_count)


def int_or_percent(value: int | str | None, total: int, *, round_up: bool) -> int:
    """An IntOrString such as maxSurge ("25%" or 1) resolved against `total` replicas."""
    if value is None:
        return 0
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    fraction = float(str(value).rstrip("%")) / 100 * total
    return math.ceil(fraction) if round_up else math.floor(fraction)


def owner_reference(owner: dict) -> dict:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def by_controller(objects: list[dict]) -> dict[str, list[dict]]:
    """Objects by the uid of their controller: one scan per pass, where asking per owner scans per owner."""
    grouped: dict[str, list[dict]] = {}
    for obj in objects:
        for ref in obj["metadata"].get("ownerReferences") or ():
            if ref.get("controller") and ref.get("uid"):
                grouped.setdefault(ref["uid"], []).append(obj)
                break
    return grouped


def orphans(objects: list[dict]) -> list[dict]:
    """The objects no controller owns (after `kubectl delete --cascade=orphan` of their owner)."""
    return [
        obj
        for obj in objects
        if not any(ref.get("controller") for ref in obj["metadata"].get("ownerReferences") or ())
        and not obj["metadata"].get("deletionTimestamp")
    ]


async def adopt(cluster: Cluster, resource: str, owner: dict, candidates: list[dict]) -> list[dict]:
    """The controllers' ControllerRefManager: the orphans of `candidates` (see `orphans`) in the owner's
    namespace that its selector matches become its own; they are returned, and taken out of `candidates`.

    A Deployment recreated after an orphaning delete so takes back its ReplicaSets, and with them its
    revision history, as a StatefulSet or DaemonSet does its ControllerRevisions.
    """
    selector = owner["spec"].get("selector") or {}
    if not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return []
    matches = selector_from_label_selector(selector).matches
    namespace = owner["metadata"]["namespace"]
    taken = [obj for obj in candidates if obj["metadata"].get("namespace") == namespace and matches(obj)]
    adopted = []
    for obj in taken:
        candidates.remove(obj)
        refs = [*(obj["metadata"].get("ownerReferences") or []), owner_reference(owner)]
        adopted.append(
            await cluster.store.patch(
                cluster.rt(resource),
                namespace,
                obj["metadata"]["name"],
                MERGE,
                {"metadata": {"ownerReferences": refs}},
            )
        )
    return adopted


def pod_from_template(owner: dict, template: dict, *, name: str = "", generate_name: str = "") -> dict:
    template = copy.deepcopy(template)
    meta = template.get("metadata") or {}
    metadata: dict = {
        "namespace": owner["metadata"]["namespace"],
        "labels": meta.get("labels") or {},
        "ownerReferences": [owner_reference(owner)],
    }
    if meta.get("annotations"):
        metadata["annotations"] = meta["annotations"]
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = generate_name
    return {"metadata": metadata, "spec": template.get("spec") or {}}


def active(pods: list[dict]) -> list[dict]:
    return [p for p in pods if not is_terminal(p) and not p["metadata"].get("deletionTimestamp")]


def ready_count(pods: list[dict]) -> int:
    return sum(1 for p in pods if is_ready(p))


def scale_down_order(pod: dict) -> tuple:
    """Which pods go first when scaling down: unscheduled, pending, unready, most restarted, newest."""
    status = pod.get("status") or {}
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return (
        bool(pod["spec"].get("nodeName")),
        {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0),
        is_ready(pod),
        -restarts,
        [-ord(c) for c in pod["metadata"].get("creationTimestamp", "")],
    )
