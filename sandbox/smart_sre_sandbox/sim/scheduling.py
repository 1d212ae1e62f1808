"""The scheduler's decision as pure functions: which nodes fit a pod, and the real scheduler's wording when none do.

Filters run per node in the default profile's order and stop at the first that fails (resources may report
cpu and memory together), so the reason histogram matches kube-scheduler's FailedScheduling messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from ..selectors import selector_from_label_selector
from .labels import requirement_matches
from .podresources import RESOURCES, pod_requests
from .quantity import parse

HOSTNAME_KEY = "kubernetes.io/hostname"
UNSCHEDULABLE = "node(s) were unschedulable"
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
POD_AFFINITY = "node(s) didn't match pod affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
TOO_MANY_PODS = "Too many pods"
NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
UNBOUND_PVC = "pod has unbound immediate PersistentVolumeClaims"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
# Reasons that removing lower-priority pods could cure; the others are UnschedulableAndUnresolvable.
_PREEMPTIBLE_PREFIXES = ("Insufficient ", TOO_MANY_PODS, NODE_PORTS, ANTI_AFFINITY, EXISTING_ANTI_AFFINITY)
ANY_ADDRESS = "0.0.0.0"  # a hostPort without hostIP binds every address of the node
# kube-scheduler scores pods without requests as if they asked for this much (schedutil.GetNonzeroRequests).
_SCORING_DEFAULTS = {"cpu": Decimal("0.1"), "memory": Decimal(200 * 2**20)}


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


HostPort = tuple[str, str, int]  # (protocol, host IP, port)


def host_ports(pod: dict) -> list[HostPort]:
    """The node ports the pod's containers ask for (NodePorts' getContainerPorts: app containers, hostPort
    set)."""
    return [
        (port.get("protocol") or "TCP", port.get("hostIP") or ANY_ADDRESS, int(port["hostPort"]))
        for container in pod["spec"].get("containers") or []
        for port in container.get("ports") or []
        if int(port.get("hostPort") or 0) > 0
    ]


def ports_conflict(wanted: list[HostPort], used: set[HostPort]) -> bool:
    """HostPortInfo.CheckConflict: one protocol and port, on the same address or on every address."""
    return any(
        protocol == other_protocol
        and port == other_port
        and (address == other_address or ANY_ADDRESS in (address, other_address))
        for protocol, address, port in wanted
        for other_protocol, other_address, other_port in used
    )


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


class Placement:
    """The bound pods as the scheduler sees them during a pass, with each node's running totals.

    kube-scheduler keeps such a snapshot (NodeInfo: pods, requested and non-zero requested resources)
    instead of summing every bound pod for every decision; a pass builds it once and adds each pod it
    binds, so later decisions of the pass see it placed.
    """

    def __init__(self, nodes: list[dict], pods: list[dict]) -> None:
        self.nodes = {node["metadata"]["name"]: node for node in nodes}
        self.pods: dict[str, list[dict]] = {name: [] for name in self.nodes}
        self.requested = {name: dict.fromkeys(RESOURCES, Decimal(0)) for name in self.nodes}
        self.scoring = {name: dict.fromkeys(RESOURCES, Decimal(0)) for name in self.nodes}
        self.owners: dict[str, Counter[str]] = {name: Counter() for name in self.nodes}
        self.ports: dict[str, set[HostPort]] = {name: set() for name in self.nodes}
        # Bound pods with required anti-affinity, and their node: the only ones any pod must check.
        self.anti_affine: list[tuple[dict, dict]] = []
        for pod in pods:
            node = pod["spec"].get("nodeName")
            if node in self.nodes and not is_terminal(pod):
                self.add(pod, node)

    def add(self, pod: dict, node: str) -> None:
        self.pods[node].append(pod)
        for name, value in pod_requests(pod).items():
            self.requested[node][name] += value
            self.scoring[node][name] += value or _SCORING_DEFAULTS[name]
        self.owners[node].update({ref.get("uid") for ref in pod["metadata"].get("ownerReferences") or []})
        self.ports[node].update(host_ports(pod))
        if _required_terms(pod, "podAntiAffinity"):
            self.anti_affine.append((pod, self.nodes[node]))

    def placed(self) -> list[tuple[dict, dict]]:
        """Every bound pod with its node."""
        return [(pod, self.nodes[name]) for name, pods in self.pods.items() for pod in pods]

    def signature(self) -> tuple:
        """Which pod runs where: an unschedulable pod is retried early when this changes."""
        return (
            tuple((name, node["metadata"].get("resourceVersion")) for name, node in self.nodes.items()),
            tuple(sorted((pod["metadata"]["uid"], name) for name, pods in self.pods.items() for pod in pods)),
        )


def insufficient_resources(pod: dict, node: dict, placement: Placement) -> list[str]:
    node_name = node["metadata"]["name"]
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    wanted, used = pod_requests(pod), placement.requested[node_name]
    reasons = []
    if len(placement.pods[node_name]) + 1 > int(parse(allocatable.get("pods", "110"))):
        reasons.append(TOO_MANY_PODS)
    for name in RESOURCES:
        if wanted[name] > 0 and used[name] + wanted[name] > parse(allocatable.get(name, "0")):
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
    pod: dict, node: dict, placement: Placement, placed: list[tuple[dict, dict | None]]
) -> list[str]:
    """Why `pod` cannot run on `node` (empty when it fits), first failing filter only.

    `placed` are the bound pods, with their node, whose affinity rules could matter to `pod`.
    """
    if (node.get("spec") or {}).get("unschedulable"):
        return [UNSCHEDULABLE]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"]
    if not matches_node_affinity(pod, node):
        return [NODE_AFFINITY]
    if ports_conflict(host_ports(pod), placement.ports[node["metadata"]["name"]]):
        return [NODE_PORTS]
    insufficient = insufficient_resources(pod, node, placement)
    if insufficient:
        return insufficient
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


def _free_fraction(node: dict, used: dict[str, Decimal]) -> float:
    """NodeResourcesFit's LeastAllocated score: the average free share of cpu and memory."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    fractions = []
    for name in RESOURCES:
        capacity = parse(allocatable.get(name, "0"))
        if capacity > 0:
            fractions.append(float((capacity - used[name]) / capacity))
    return sum(fractions) / len(fractions) if fractions else 0.0


def _siblings(pod: dict, owners: Counter[str]) -> int:
    """Pods of the same controller already on the node: the default topology spread avoids stacking them."""
    mine = {ref.get("uid") for ref in pod["metadata"].get("ownerReferences") or [] if ref.get("controller")}
    return sum(owners[uid] for uid in mine)


def schedule(pod: dict, placement: Placement, claims: dict[str, dict]) -> Decision:
    """Pick the least-allocated node that passes every filter, or explain why none does.

    `claims` are the PVCs of the pod's namespace by name.
    """
    nodes = placement.nodes
    problem = claim_problem(pod, claims)
    if problem is not None:
        return Decision(None, failure_message({name: [] for name in nodes}, prefilter=problem))
    if _required_terms(pod, "podAffinity") or _required_terms(pod, "podAntiAffinity"):
        placed = placement.placed()
    else:  # only existing pods' anti-affinity can turn this pod away
        placed = placement.anti_affine
    reasons = {name: node_reasons(pod, node, placement, placed) for name, node in nodes.items()}
    feasible = [name for name, found in reasons.items() if not found]
    if not feasible:
        return Decision(None, failure_message(reasons))
    best = max(
        feasible,
        key=lambda name: (
            -_siblings(pod, placement.owners[name]),
            _free_fraction(nodes[name], placement.scoring[name]),
            [-ord(c) for c in name],
        ),
    )
    return Decision(best)
