"""Why a pod does or does not fit a node: the scheduler's filters (resources, nodeSelector, node
affinity, taints, pod anti-affinity), recomputed from the objects so the answer names numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from smart_sre.k8s import quantity
from smart_sre.k8s.owners import pod_spec

RESOURCES = ("cpu", "memory")


def _container_requests(container: dict) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    # Like the API server's defaulting: a limit without a request is also the request.
    return {name: quantity.parse(requests.get(name, limits.get(name))) for name in RESOURCES}


def pod_requests(obj: dict) -> dict[str, Decimal]:
    """Effective requests: the sum over containers, at least the largest init container's."""
    spec = pod_spec(obj)
    total = {name: Decimal(0) for name in RESOURCES}
    for container in spec.get("containers") or []:
        for name, value in _container_requests(container).items():
            total[name] += value
    for container in spec.get("initContainers") or []:
        for name, value in _container_requests(container).items():
            total[name] = max(total[name], value)
    return total


def allocatable(node: dict) -> dict[str, Decimal]:
    values = (node.get("status") or {}).get("allocatable") or {}
    return {name: quantity.parse(values.get(name)) for name in RESOURCES}


def requested_on(pods: list[dict]) -> dict[str, Decimal]:
    """Sum of requests of the pods that hold resources on a node (not finished)."""
    total = {name: Decimal(0) for name in RESOURCES}
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for name, value in pod_requests(pod).items():
            total[name] += value
    return total


def _format(resource: str, value: Decimal) -> str:
    return quantity.format_cpu(value) if resource == "cpu" else quantity.format_memory(value)


def _expression_matches(expression: dict, labels: dict[str, str]) -> bool:
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            actual, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return actual > bound if operator == "Gt" else actual < bound
    return False


def _label_selector_matches(selector: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
            "value", ""
        ):
            return True
    return False


@dataclass
class NodeFit:
    """One node's verdict: each blocker as (filter, explanation); filters are the keys of FILTERS."""

    node: str
    labels: dict[str, str] = field(default_factory=dict)
    blockers: list[tuple[str, str]] = field(default_factory=list)
    untolerated: list[dict] = field(default_factory=list)
    free: dict[str, Decimal] = field(default_factory=dict)
    allocatable: dict[str, Decimal] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return not self.blockers

    @property
    def reasons(self) -> list[str]:
        return [text for _, text in self.blockers]

    @property
    def filters(self) -> set[str]:
        return {name for name, _ in self.blockers}


FILTERS = ("cordon", "nodeSelector", "nodeAffinity", "taint", "podAntiAffinity", "cpu", "memory")


def node_fit(pod: dict, node: dict, pods_on_node: list[dict]) -> NodeFit:
    """Every filter the pod fails on this node, worded with the numbers involved."""
    spec = pod_spec(pod)
    node_meta = node.get("metadata") or {}
    labels = node_meta.get("labels") or {}
    fit = NodeFit(node=node_meta.get("name", "?"), labels=dict(labels))
    if (node.get("spec") or {}).get("unschedulable"):
        fit.blockers.append(("cordon", "node is cordoned (unschedulable)"))
    selector = spec.get("nodeSelector") or {}
    mismatched = {k: v for k, v in selector.items() if labels.get(k) != v}
    if mismatched:
        wanted = ",".join(f"{k}={v}" for k, v in sorted(mismatched.items()))
        fit.blockers.append(("nodeSelector", f"nodeSelector {wanted} does not match the node's labels"))
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms") or []
    if required and not any(
        all(_expression_matches(e, labels) for e in term.get("matchExpressions") or []) for term in required
    ):
        fit.blockers.append(("nodeAffinity", "required node affinity does not match the node's labels"))
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
            spec.get("tolerations") or [], taint
        ):
            fit.untolerated.append(taint)
            fit.blockers.append(
                (
                    "taint",
                    f"untolerated taint {taint.get('key')}={taint.get('value', '')}:{taint.get('effect')}",
                )
            )
    anti = (
        ((spec.get("affinity") or {}).get("podAntiAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
    ) or []
    pod_name = (pod.get("metadata") or {}).get("name")
    for term in anti:
        if term.get("topologyKey") != "kubernetes.io/hostname":
            continue
        clash = [
            other["metadata"]["name"]
            for other in pods_on_node
            if other["metadata"].get("name") != pod_name
            and _label_selector_matches(
                term.get("labelSelector") or {}, other["metadata"].get("labels") or {}
            )
        ]
        if clash:
            fit.blockers.append(
                ("podAntiAffinity", f"pod anti-affinity: already runs {', '.join(sorted(clash)[:3])}")
            )
    wanted = pod_requests(pod)
    fit.allocatable = allocatable(node)
    others = [p for p in pods_on_node if (p.get("metadata") or {}).get("name") != pod_name]
    used = requested_on(others)
    for resource in RESOURCES:
        fit.free[resource] = fit.allocatable[resource] - used[resource]
        if wanted[resource] > fit.free[resource]:
            fit.blockers.append(
                (
                    resource,
                    f"Insufficient {resource}: requests {_format(resource, wanted[resource])}, "
                    f"free {_format(resource, max(fit.free[resource], Decimal(0)))} "
                    f"of {_format(resource, fit.allocatable[resource])} allocatable",
                )
            )
    return fit
