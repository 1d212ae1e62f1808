"""Pending on Insufficient cpu or memory: the smallest request cut that lets the roomiest node take the
pod, kept consistent with the container's limit and within the namespace's LimitRanges.

Called by the scheduling analyzer for the nodes that resources alone block. A Pending pod never ran, so
nothing shows what it really uses: the cut goes to exactly what the roomiest node has free (allocatable
minus what the pods bound there request), never below a LimitRange minimum, and the limit follows the
request so their ratio stays the template's (a Guaranteed pod stays Guaranteed; a limit left far above a
cut request overcommits the node). The summary says the usage is unknown. The changed pod goes through
the scheduler's filters again and must fit that node before the fix is offered.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal

import jsonpatch

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    container_pointer,
    template_target,
)
from smart_sre.investigation.bounds import Change
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.scheduling import NodeFit, container_requests, format_quantity, pod_requests
from smart_sre.k8s import quantity
from smart_sre.k8s.owners import pod_spec


@dataclass(frozen=True)
class _Cut:
    operations: list[dict]
    change: str  # "container api's resources.requests.memory 16Gi -> 8192Mi"


def resource_text(resource: str, value: Decimal) -> str:
    """A request or limit written the way it goes into the spec, rounded down to whole Mi or millicores."""
    return quantity.format_cpu_floor(value) if resource == "cpu" else quantity.format_memory_floor_mi(value)


def set_resource(pointer: str, container: dict, section: str, resource: str, value: str) -> dict:
    """The operation that sets resources.<section>.<resource>, creating the maps it needs."""
    resources = container.get("resources") or {}
    if "resources" not in container:
        return {"op": "add", "path": f"{pointer}/resources", "value": {section: {resource: value}}}
    if section not in resources:
        return {"op": "add", "path": f"{pointer}/resources/{section}", "value": {resource: value}}
    op = "replace" if resource in resources[section] else "add"
    return {"op": op, "path": f"{pointer}/resources/{section}/{resource}", "value": value}


def pod_limit(spec: dict, resource: str) -> Decimal | None:
    """The sum of the app containers' limits; None when one has none (the pod is then unbounded)."""
    limits = [
        ((c.get("resources") or {}).get("limits") or {}).get(resource) for c in spec.get("containers") or []
    ]
    return (
        None
        if any(limit is None for limit in limits)
        else sum((quantity.parse(v) for v in limits), Decimal(0))
    )


def _lower(evidence: Evidence, name: str, resource: str, target: Decimal) -> _Cut | str:
    """Lower one container's request of `resource` to `target`, its limit keeping the same ratio."""
    located = container_pointer(evidence, name)
    if located is None:
        return f"container {name} is not in the workload's template"
    _, pointer, container = located
    resources = container.get("resources") or {}
    request, limit = (
        (resources.get("requests") or {}).get(resource),
        (resources.get("limits") or {}).get(resource),
    )
    current = container_requests(container)[resource]
    text = resource_text(resource, target)
    lowered = quantity.parse(text)
    if lowered <= 0:
        return f"container {name}'s {resource} request would have to drop to nothing"
    floor = evidence.bounds.request_min(resource)
    if floor is not None and lowered < floor.value:
        return f"container {name} would need {text} {resource}, below what {floor.source}"
    if request is None and limit is not None:  # the limit is also the request: lower it
        op = set_resource(pointer, container, "limits", resource, text)
        return _Cut(
            [op], f"container {name}'s resources.limits.{resource} (also its request) {limit} -> {text}"
        )
    operations = [set_resource(pointer, container, "requests", resource, text)]
    change = f"container {name}'s resources.requests.{resource} {request or format_quantity(resource, current)} -> {text}"
    if limit is not None and current > 0:
        ratio = quantity.parse(limit) / current
        new_limit = resource_text(resource, min(quantity.parse(limit), lowered * ratio))
        if quantity.parse(new_limit) < quantity.parse(limit):
            operations.append(set_resource(pointer, container, "limits", resource, new_limit))
            change += (
                f" and resources.limits.{resource} {limit} -> {new_limit} (the same limit/request ratio)"
            )
    return _Cut(operations, change)


def _cuts(evidence: Evidence, fit: NodeFit, short: list[str]) -> list[_Cut] | str:
    """The cuts that bring the pod's effective request within the node's free room, resource by resource."""
    spec = pod_spec(evidence.top_owner)
    cuts: list[_Cut] = []
    for resource in short:
        free = max(fit.free[resource], Decimal(0))
        apps = spec.get("containers") or []
        total = sum((container_requests(c)[resource] for c in apps), Decimal(0))
        if total > free and apps:
            largest = max(apps, key=lambda c: container_requests(c)[resource])
            cut = _lower(
                evidence, largest["name"], resource, container_requests(largest)[resource] - (total - free)
            )
            if isinstance(cut, str):
                return cut
            cuts.append(cut)
        for init in (
            spec.get("initContainers") or []
        ):  # init containers run one at a time: each must fit alone
            if container_requests(init)[resource] > free:
                cut = _lower(evidence, init["name"], resource, free)
                if isinstance(cut, str):
                    return cut
                cuts.append(cut)
    return cuts


def _checked(evidence: Evidence, fit: NodeFit, short: list[str], operations: list[dict]) -> str | None:
    """Why the changed pod still would not run on the node, or be admitted; None when it would."""
    patched = jsonpatch.apply_patch(copy.deepcopy(evidence.top_owner), operations)
    spec = pod_spec(patched)
    pod = {"metadata": evidence.pod["metadata"], "spec": spec}
    after = next((f for f in evidence.placement.fits(pod) if f.node == fit.node), None)
    if after is None or not after.fits:
        return f"even lowered, node {fit.node} refuses it: {'; '.join(after.reasons if after else [])}"
    before = pod_requests(evidence.pod)
    for resource in short:
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            limits = (container.get("resources") or {}).get("limits") or {}
            limit = quantity.parse(limits[resource]) if resource in limits else None
            total = pod_requests(pod)[resource]
            change = Change(
                resource=resource,
                request=container_requests(container)[resource],
                limit=limit,
                pod_request=total,
                pod_limit=pod_limit(spec, resource),
                added_request=total - before[resource],
                added_limit=Decimal(0),
                replicas=1,
                surge=False,
            )
            violation = evidence.bounds.violation(change)
            if violation:
                return f"container {container['name']}'s new {resource} would break {violation}"
    return None


def lower_requests(evidence: Evidence, blocked: list[NodeFit], total: int) -> Candidate:
    wanted = pod_requests(evidence.pod)
    short = sorted({name for fit in blocked for name in fit.filters})
    # The node with the most room for the scarcest resource: lowering the request to its free amount fits it.
    best = max(blocked, key=lambda fit: tuple(fit.free[name] for name in short))
    wording = " and ".join(
        f"{name} {format_quantity(name, wanted[name])} but the roomiest node {best.node} has "
        f"{format_quantity(name, max(best.free[name], Decimal(0)))} free of "
        f"{format_quantity(name, best.allocatable[name])} allocatable"
        for name in short
    )
    cause = f"No node has enough {' and '.join(short)}: the pod requests {wording}"
    score = 0.9 if len(blocked) == total else 0.6
    cuts = _cuts(evidence, best, short)
    operations = [] if isinstance(cuts, str) else [op for cut in cuts for op in cut.operations]
    problem = cuts if isinstance(cuts, str) else _checked(evidence, best, short, operations)
    if isinstance(cuts, str) or problem is not None:
        reason = f"{problem}; add capacity or free room on a node"
        return Candidate(
            root_cause=RootCause.INSUFFICIENT_RESOURCES,
            summary=f"{cause}. No request cut is safe: {reason}.",
            score=score,
            facts=tuple(best.reasons),
            no_patch_reason=reason,
        )
    return Candidate(
        root_cause=RootCause.INSUFFICIENT_RESOURCES,
        summary=(
            f"{cause}. Lower {'; '.join(cut.change for cut in cuts)} so it fits node {best.node}. "
            "The pod never ran, so its real usage is unknown: check it needs no more."
        ),
        score=score,
        patch=ProposedPatch(template_target(evidence)[0], operations),
        facts=tuple(best.reasons),
    )
