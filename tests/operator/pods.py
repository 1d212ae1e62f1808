"""Pod bodies as the API server returns them, for the operator's unit tests."""

from __future__ import annotations

from typing import Any


def pod(
    name: str = "web-7d9c-abcde",
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    waiting: str | None = None,
    last_terminated: str | None = None,
    unschedulable_since: str | None = None,
    owner: tuple[str, str] | None = ("ReplicaSet", "web-7d9c"),
    deleting: bool = False,
) -> dict[str, Any]:
    """A one-container pod in the given state; `waiting` and `last_terminated` are container reasons."""
    container_status: dict[str, Any] = {"name": "app", "restartCount": 3, "ready": False}
    if waiting:
        container_status["state"] = {"waiting": {"reason": waiting, "message": f"{waiting} message"}}
    else:
        container_status["state"] = {"running": {"startedAt": "2026-01-05T10:00:00Z"}}
    if last_terminated:
        container_status["lastState"] = {"terminated": {"reason": last_terminated, "exitCode": 137}}
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "labels": labels if labels is not None else {"app": "web"},
        "creationTimestamp": "2026-01-05T10:00:00Z",
    }
    if owner:
        metadata["ownerReferences"] = [
            {"kind": owner[0], "name": owner[1], "controller": True, "uid": "uid-owner"}
        ]
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-05T10:05:00Z"
    status: dict[str, Any] = {"phase": phase}
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "web:1"}]}
    if unschedulable_since:
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory.",
                "lastTransitionTime": unschedulable_since,
            }
        ]
    else:
        status["containerStatuses"] = [container_status]
        spec["nodeName"] = "node-1"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}
