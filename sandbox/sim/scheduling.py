"""The scheduler's decision as pure functions: which nodes fit a pod, and the real scheduler's wording when none do.

Filters run per node in the default profile's order and stop at the first that fails (resources may report
cpu and memory together), so the reason histogram matches kube-scheduler's FailedScheduling messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from smart_sre.quantity import parse

from ..selectors import selector_from_label_selector
from .labels import requirement_matches
from .podresources import RESOURCES, pod_requests

HOSTNAME_KEY = "kubernetes.io/hostname"
UNSCHEDULABLE = "node(s) were unschedulable"
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
POD_AFFINITY = "node(s) didn't match pod affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
TOO_MANY_PODS = "Too many pods"
UNBOUND_PVC = "pod has unbound immediate PersistentVolumeClaims"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
# Reasons that removing lower-priority pods could cure; the others are UnschedulableAndUnresolvable.
_PREEMPTIBLE_PREFIXES = ("Insufficient ", TOO_MANY_PODS, ANTI_AFFINITY, EXISTING_ANTI_AFFINITY)


@dataclass(frozen=True)
class Decision:
    node: str | None
    message: str = ""  # the FailedScheduling message when node is None


def is_terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def untolerated_taint(pod: dict, node: dict) -> dict | None:
    tolerations = pod["spec"].get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(toleration, taint) for toleration in tolerations):
            return taint
    return None


def _tolerates(toleration: dict, taint: dict) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    operator = toleration.get("operator", "Equal")
    if not toleration.get("key"):
        return operator == "Exists"
    if toleration["key"] != taint.get("key"):
        return False
    return operator == "Exists" or toleration.get("value", "") == taint.get("value", "")


def matches_node_affinity(pod: dict, node: dict) -> bool:
    labels = node["metadata"].get("labels") or {}
    for key, value in (pod["spec"].get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if not terms:
        return True
    fields = {"metadata.name": node["metadata"]["name"]}
    return any(
        (term.get("matchExpressions") or term.get("matchFields"))
        and all(requirement_matches(labels, expr) for expr in term.get("matchExpressions") or [])
        and all(requirement_matches(fields, expr) for expr in term.get("matchFields") or [])
        for term in terms
    )


def insufficient_resources(pod: dict, node: dict, bound: list[dict]) -> list[str]:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    wanted = pod_requests(pod)
    reasons = []
    if len(bound) + 1 > int(parse(allocatable.get("pods", "110"))):
        reasons.append(TOO_MANY_PODS)
    for name in RESOURCES:
        if wanted[name] <= 0:
            continue
        used = sum((pod_requests(other)[name] for other in bound), Decimal(0))
        if used + wanted[name] > parse(allocatable.get(name, "0")):
            reasons.append(f"Insufficient {name}")
    return reasons


def _term_namespaces(term: dict, owner: dict) -> set[str] | None:
    """The namespaces an affinity term looks at; None means all of them."""
    if term.get("namespaceSelector") is not None and not term.get("namespaces"):
        return None
    return set(term.get("namespaces") or [owner["metadata"].get("namespace", "default")])


def _term_matches_pod(term: dict, owner: dict, other: dict) -> bool:
    namespaces = _term_namespaces(term, owner)
    if namespaces is not None and other["metadata"].get("namespace") not in namespaces:
        return False
    return selector_from_label_selector(term.get("labelSelector")).matches(other)


def _same_topology(key: str, node: dict, other_node: dict | None) -> bool:
    if other_node is None:
        return False
    value = (node["metadata"].get("labels") or {}).get(key)
    return value is not None and value == (other_node["metadata"].get("labels") or {}).get(key)


def _required_terms(pod: dict, kind: str) -> list[dict]:
    affinity = (pod["spec"].get("affinity") or {}).get(kind) or {}
    return affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []


def inter_pod_affinity_reason(pod: dict, node: dict, placed: list[tuple[dict, dict | None]]) -> str | None:
    """Pod (anti-)affinity against pods already placed, given as (pod, its node) pairs.

    Checked in kube-scheduler's order: the pod's affinity, its anti-affinity, then existing pods' anti-affinity.
    """
    for term in _required_terms(pod, "podAffinity"):
        matching = [
            (other, other_node) for other, other_node in placed if _term_matches_pod(term, pod, other)
        ]
        if not matching and _term_matches_pod(term, pod, pod):
            continue  # the first pod of a self-affine group may go anywhere
        if not any(_same_topology(term["topologyKey"], node, other_node) for _, other_node in matching):
            return POD_AFFINITY
    for term in _required_terms(pod, "podAntiAffinity"):
        for other, other_node in placed:
            if _term_matches_pod(term, pod, other) and _same_topology(term["topologyKey"], node, other_node):
                return ANTI_AFFINITY
    for other, other_node in placed:
        for term in _required_terms(other, "podAntiAffinity"):
            if _term_matches_pod(term, other, pod) and _same_topology(term["topologyKey"], node, other_node):
                return EXISTING_ANTI_AFFINITY
    return None


def node_reasons(
    pod: dict, node: dict, pods_by_node: dict[str, list[dict]], nodes: dict[str, dict]
) -> list[str]:
    """Why `pod` cannot run on `node` (empty when it fits), first failing filter only."""
    if (node.get("spec") or {}).get("unschedulable"):
        return [UNSCHEDULABLE]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"]
    if not matches_node_affinity(pod, node):
        return [NODE_AFFINITY]
    insufficient = insufficient_resources(pod, node, pods_by_node.get(node["metadata"]["name"], []))
    if insufficient:
        return insufficient
    placed = [(other, nodes.get(name)) for name, others in pods_by_node.items() for other in others]
    reason = inter_pod_affinity_reason(pod, node, placed)
    return [reason] if reason else []


def claim_problem(pod: dict, claims: dict[str, dict]) -> str | None:
    """The PreFilter verdict on the pod's PersistentVolumeClaims."""
    for volume in pod["spec"].get("volumes") or []:
        claim_name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim_name is None:
            continue
        claim = claims.get(claim_name)
        if claim is None:
            return f'persistentvolumeclaim "{claim_name}" not found'
        if (claim.get("status") or {}).get("phase") != "Bound":
            return UNBOUND_PVC
    return None


def _histogram(counts: Counter[str]) -> str:
    return ", ".join(sorted(f"{count} {reason}" for reason, count in counts.items()))


def failure_message(reasons_by_node: dict[str, list[str]], prefilter: str | None = None) -> str:
    """kube-scheduler's FitError text, including the default preemption plugin's verdict."""
    total = len(reasons_by_node)
    if prefilter is not None:
        return (
            f"0/{total} nodes are available: {prefilter}. "
            f"preemption: 0/{total} nodes are available: {total} {NOT_HELPFUL}."
        )
    counts: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    for reasons in reasons_by_node.values():
        counts.update(reasons)
        helpful = all(reason.startswith(_PREEMPTIBLE_PREFIXES) for reason in reasons)
        preemption[NO_VICTIMS if helpful else NOT_HELPFUL] += 1
    if total == 0:
        return "no nodes available to schedule pods"
    return f"0/{total} nodes are available: {_histogram(counts)}. preemption: 0/{total} nodes are available: {_histogram(preemption)}."


# kube-scheduler scores pods without requests as if they asked for this much (schedutil.GetNonzeroRequests).
_SCORING_DEFAULTS = {"cpu": Decimal("0.1"), "memory": Decimal(200 * 2**20)}


def _scoring_requests(pod: dict) -> dict[str, Decimal]:
    requests = pod_requests(pod)
    return {name: value or _SCORING_DEFAULTS[name] for name, value in requests.items()}


def _free_fraction(node: dict, bound: list[dict]) -> float:
    """NodeResourcesFit's LeastAllocated score: the average free share of cpu and memory."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    fractions = []
    for name in RESOURCES:
        capacity = parse(allocatable.get(name, "0"))
        if capacity > 0:
            used = sum((_scoring_requests(other)[name] for other in bound), Decimal(0))
            fractions.append(float((capacity - used) / capacity))
    return sum(fractions) / len(fractions) if fractions else 0.0


def _siblings(pod: dict, bound: list[dict]) -> int:
    """Pods of the same controller already on the node: the default topology spread avoids stacking them."""
    owners = {ref.get("uid") for ref in pod["metadata"].get("ownerReferences") or [] if ref.get("controller")}
    return sum(
        1
        for other in bound
        if owners & {ref.get("uid") for ref in other["metadata"].get("ownerReferences") or []}
    )


def schedule(pod: dict, nodes: list[dict], pods: list[dict], claims: dict[str, dict]) -> Decision:
    """Pick the least-allocated node that passes every filter, or explain why none does.

    `pods` are the cluster's pods (terminal and unbound ones are ignored); `claims` are the PVCs of the
    pod's namespace by name.
    """
    by_name = {node["metadata"]["name"]: node for node in nodes}
    pods_by_node: dict[str, list[dict]] = {name: [] for name in by_name}
    for other in pods:
        node_name = other["spec"].get("nodeName")
        if (
            node_name in pods_by_node
            and not is_terminal(other)
            and other["metadata"]["uid"] != pod["metadata"]["uid"]
        ):
            pods_by_node[node_name].append(other)
    problem = claim_problem(pod, claims)
    if problem is not None:
        return Decision(None, failure_message({key: [] for key in by_name}, prefilter=problem))
    reasons = {name: node_reasons(pod, node, pods_by_node, by_name) for name, node in by_name.items()}
    feasible = [name for name, found in reasons.items() if not found]
    if not feasible:
        return Decision(None, failure_message(reasons))
    best = max(
        feasible,
        key=lambda name: (
            -_siblings(pod, pods_by_node[name]),
            _free_fraction(by_name[name], pods_by_node[name]),
            [-ord(c) for c in name],
        ),
    )
    return Decision(best)
