"""What a pod asks of a node: effective requests, as the scheduler counts them, and limits."""

from __future__ import annotations

from decimal import Decimal

from .quantity import parse

RESOURCES = ("cpu", "memory")


def container_requests(container: dict) -> dict[str, Decimal]:
    """Requests, defaulting each missing one to its limit as the API server does."""
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    return {name: parse(requests.get(name, limits.get(name))) for name in RESOURCES}


# The scheduler sums every bound pod's requests for every node it scores, for every pending pod: a
# burst of new pods would parse the same quantities millions of times. A stored pod's requests only
# change with its resourceVersion, so they are remembered by (uid, resourceVersion).
_REMEMBERED = 20_000
_requests_of: dict[tuple[str, str], dict[str, Decimal]] = {}


def pod_requests(pod: dict) -> dict[str, Decimal]:
    """max(sum over containers, max over init containers) per resource, plus the pod overhead."""
    metadata = pod.get("metadata") or {}
    key = (metadata.get("uid") or "", metadata.get("resourceVersion") or "")
    if not all(key):
        return _compute_requests(pod)  # not stored yet: nothing identifies this version of it
    if (found := _requests_of.get(key)) is None:
        if len(_requests_of) >= _REMEMBERED:
            _requests_of.clear()
        found = _requests_of[key] = _compute_requests(pod)
    return dict(found)


def _compute_requests(pod: dict) -> dict[str, Decimal]:
    spec = pod.get("spec") or {}
    total = dict.fromkeys(RESOURCES, Decimal(0))
    for container in spec.get("containers") or []:
        for name, value in container_requests(container).items():
            total[name] += value
    for container in spec.get("initContainers") or []:
        for name, value in container_requests(container).items():
            total[name] = max(total[name], value)
    for name, value in (spec.get("overhead") or {}).items():
        if name in total:
            total[name] += parse(value)
    return total


def memory_limit(container: dict) -> Decimal | None:
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return parse(limit) if limit is not None else None
