"""What the workload controllers share: ownership, pod templates and their hashes, pod readiness."""

from __future__ import annotations

import copy
import hashlib
import json

from .endpoints import is_ready
from .scheduling import is_terminal

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
HASH_LABEL = "pod-template-hash"


def template_hash(template: dict) -> str:
    """A short stable hash of a pod template, in the alphabet Kubernetes uses for generated names."""
    digest = int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest(), 16)
    chars = []
    for _ in range(10):
        digest, index = divmod(digest, len(SAFE_ALPHABET))
        chars.append(SAFE_ALPHABET[index])
    return "".join(chars)


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
