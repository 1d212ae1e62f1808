"""Objects of the e2e scenarios: the seed's policy and the seed's two failing workloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smart_sre_harness import builders

REPO = Path(__file__).resolve().parents[2]


def policy(name: str = "protect-critical-services", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DebugPolicy",
        "metadata": {"name": name},
        "spec": {
            "rules": [{"namespaces": ["default"], "selector": {"matchLabels": {"app": "critical-app"}}}],
            **spec,
        },
    }


def deployment(name: str, *, replicas: int = 1, image: str, env=None, memory: str | None = None) -> dict:
    return builders.deployment(
        name,
        image=image,
        labels={"app": "critical-app", "component": name},
        replicas=replicas,
        env=env,
        requests={"memory": memory, "cpu": "100m"} if memory else None,
    )


def crashing_client(name: str = "checkout-api", replicas: int = 3) -> dict:
    """The seed's second case: an app logging "Connection refused to redis:6379"."""
    return deployment(name, replicas=replicas, image="sandbox/api-client:1.0", env={"REDIS_HOST": "redis"})


def memory_hungry(name: str = "ledger") -> dict:
    """The seed's first case: a pod requesting more memory than any node has."""
    return deployment(name, image="sandbox/web:1.0", memory="64Gi")
