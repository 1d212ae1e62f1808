"""Objects to create on the sandbox from code: the tests and the benchmarks build their workloads here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deployment(
    name: str,
    *,
    image: str,
    labels: Mapping[str, str],
    replicas: int = 1,
    env: Mapping[str, str] | None = None,
    requests: Mapping[str, str] | None = None,
    namespace: str = "default",
) -> dict[str, Any]:
    """A Deployment of one container named `app`, its pods labelled (and selected) by `labels`."""
    container: dict[str, Any] = {"name": "app", "image": image}
    if env:
        container["env"] = [{"name": key, "value": value} for key, value in env.items()]
    if requests:
        container["resources"] = {"requests": dict(requests)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container]}},
        },
    }
