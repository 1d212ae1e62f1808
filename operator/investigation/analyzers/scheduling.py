"""Pending pods: which scheduler filter blocks them, and the smallest change that lets one node take them.

For every filter that alone blocks some node (only memory, only a taint, ...), fixing that filter
makes that node fit: that is a candidate, and the more nodes it frees the stronger it is.
"""

from __future__ import annotations

from decimal import Decimal

from smart_sre.api.common import RootCause, Trigger
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    escape,
    template_target,
)
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.scheduling import RESOURCES, NodeFit, pod_requests
from smart_sre.k8s import quantity

_UNSATISFIABLE = ("cordon", "nodeSelector", "nodeAffinity", "taint", "podAntiAffinity")


def analyze(evidence: Evidence) -> list[Candidate]:
    if evidence.trigger != Trigger.PENDING:
        return []
    candidates = _storage(evidence)
    if not evidence.fits or any(fit.fits for fit in evidence.fits):
        # An unbound claim stops the pod before any node filter runs, so a node may well fit it.
        return candidates
    total = len(evidence.fits)
    resource_blocked = [fit for fit in evidence.fits if fit.filters <= set(RESOURCES)]
    if resource_blocked:
        candidates.append(_resources(evidence, resource_blocked, total))
    for name in _UNSATISFIABLE:
        freed = [fit for fit in evidence.fits if fit.filters == {name}]
        if freed:
            candidates.append(_unsatisfiable(evidence, name, freed, total))
    return candidates


def _storage(evidence: Evidence) -> list[Candidate]:
    problems = [
        f"PersistentVolumeClaim {name} is {'missing' if pvc is None else (pvc.get('status') or {}).get('phase')}"
        for name, pvc in evidence.pvcs.items()
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound"
    ]
    if not problems:
        return []
    return [
        Candidate(
            root_cause=RootCause.UNSATISFIABLE_SCHEDULING,
            summary=f"The pod cannot be scheduled: {'; '.join(problems)}. Create or bind the claim.",
            score=0.9,
            facts=tuple(problems),
            no_patch_reason="volumes and claims are outside what smart-sre may patch",
        )
    ]


def _resources(evidence: Evidence, blocked: list[NodeFit], total: int) -> Candidate:
    wanted = pod_requests(evidence.pod)
    short = sorted({name for fit in blocked for name in fit.filters})
    # The node with the most room for the scarcest resource: lowering the request to its free amount fits it.
    best = max(blocked, key=lambda fit: tuple(fit.free[name] for name in short))
    facts = tuple(text for _, text in best.blockers)
    patch, detail = _lower_requests(evidence, short, best)
    wording = " and ".join(
        f"{name} {_fmt(name, wanted[name])} but the roomiest node {best.node} has {_fmt(name, max(best.free[name], Decimal(0)))} free"
        for name in short
    )
    return Candidate(
        root_cause=RootCause.INSUFFICIENT_RESOURCES,
        summary=f"No node has enough {' and '.join(short)}: the pod requests {wording}. {detail}",
        score=0.9 if len(blocked) == total else 0.6,
        patch=patch,
        facts=facts,
        no_patch_reason=None if patch else detail,
    )


def _fmt(resource: str, value: Decimal) -> str:
    return quantity.format_cpu(value) if resource == "cpu" else quantity.format_memory(value)


def _lower_requests(evidence: Evidence, short: list[str], best: NodeFit) -> tuple[ProposedPatch | None, str]:
    target, spec_pointer, spec = template_target(evidence)
    wanted = pod_requests(evidence.pod)
    operations = []
    for resource in short:
        excess = wanted[resource] - max(best.free[resource], Decimal(0))
        containers = spec.get("containers") or []
        index, container = max(
            enumerate(containers),
            key=lambda item: quantity.parse(
                ((item[1].get("resources") or {}).get("requests") or {}).get(resource)
            ),
        )
        requests = (container.get("resources") or {}).get("requests") or {}
        current = quantity.parse(requests.get(resource))
        lowered = current - excess
        if resource not in requests or lowered <= 0:
            return None, f"Lowering one container's {resource} request cannot make the pod fit any node."
        value = (
            quantity.format_cpu_floor(lowered)
            if resource == "cpu"
            else quantity.format_memory_floor_mi(lowered)
        )
        operations.append(
            {
                "op": "replace",
                "path": f"{spec_pointer}/containers/{index}/resources/requests/{resource}",
                "value": value,
            }
        )
    changes = ", ".join(f"{op['path'].rsplit('/', 1)[-1]} request to {op['value']}" for op in operations)
    return ProposedPatch(target, operations), f"Lower the {changes} so it fits node {best.node}."


def _unsatisfiable(evidence: Evidence, name: str, freed: list[NodeFit], total: int) -> Candidate:
    # Prefer the node that already carries the selector's keys: changing a value keeps the intent.
    selector = (template_target(evidence)[2].get("nodeSelector")) or {}
    fit = max(freed, key=lambda candidate: sum(key in candidate.labels for key in selector))
    reason = fit.blockers[0][1]
    patch = _FIXES[name](evidence, fit) if name in _FIXES else None
    nodes = ", ".join(f.node for f in freed[:3])
    return Candidate(
        root_cause=RootCause.UNSATISFIABLE_SCHEDULING,
        summary=f"The pod's placement rules exclude every node: on {nodes} only this blocks it: {reason}.",
        score=0.85 if len(freed) == total else 0.7,
        patch=patch,
        facts=(reason,),
        no_patch_reason=None if patch else f"no safe change to the pod spec lifts '{reason}'",
    )


def _fix_selector(evidence: Evidence, fit: NodeFit) -> ProposedPatch | None:
    target, spec_pointer, spec = template_target(evidence)
    operations = []
    for key, value in sorted((spec.get("nodeSelector") or {}).items()):
        if fit.labels.get(key) == value:
            continue
        path = f"{spec_pointer}/nodeSelector/{escape(key)}"
        if key in fit.labels:
            operations.append({"op": "replace", "path": path, "value": fit.labels[key]})
        else:
            operations.append({"op": "remove", "path": path})
    return ProposedPatch(target, operations) if operations else None


def _fix_taint(evidence: Evidence, fit: NodeFit) -> ProposedPatch | None:
    target, spec_pointer, spec = template_target(evidence)
    additions = []
    for taint in fit.untolerated:
        toleration = {"key": taint.get("key"), "effect": taint.get("effect")}
        if taint.get("value"):
            toleration |= {"operator": "Equal", "value": taint["value"]}
        else:
            toleration["operator"] = "Exists"
        additions.append(toleration)
    if "tolerations" in spec:
        operations = [{"op": "add", "path": f"{spec_pointer}/tolerations/-", "value": t} for t in additions]
    else:
        operations = [{"op": "add", "path": f"{spec_pointer}/tolerations", "value": additions}]
    return ProposedPatch(target, operations)


def _fix_anti_affinity(evidence: Evidence, fit: NodeFit) -> ProposedPatch | None:
    target, spec_pointer, spec = template_target(evidence)
    anti = (spec.get("affinity") or {}).get("podAntiAffinity") or {}
    required = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    if not required:
        return None
    preferred = [{"weight": 100, "podAffinityTerm": term} for term in required]
    value = {**{k: v for k, v in anti.items() if k != "requiredDuringSchedulingIgnoredDuringExecution"}}
    value["preferredDuringSchedulingIgnoredDuringExecution"] = [
        *(anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []),
        *preferred,
    ]
    return ProposedPatch(
        target, [{"op": "replace", "path": f"{spec_pointer}/affinity/podAntiAffinity", "value": value}]
    )


_FIXES = {"nodeSelector": _fix_selector, "taint": _fix_taint, "podAntiAffinity": _fix_anti_affinity}
