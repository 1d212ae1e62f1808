"""The "Kind/name" references tools take, split and checked against the kinds the agent reads."""

from __future__ import annotations

from typing import Final

INSPECTABLE_KINDS: Final[tuple[str, ...]] = (
    "Pod",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "Service",
    "Endpoints",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "Node",
)
CLUSTER_SCOPED: Final[frozenset[str]] = frozenset({"Node"})


def split_ref(ref: str) -> tuple[str, str]:
    """("Service", "redis") from "Service/redis"; ValueError for anything else."""
    kind, _, name = ref.partition("/")
    if kind not in INSPECTABLE_KINDS or not name:
        raise ValueError(f"{ref!r} is not Kind/name with a kind of {', '.join(INSPECTABLE_KINDS)}")
    return kind, name


def ref(kind: str, name: str) -> str:
    return f"{kind}/{name}"
