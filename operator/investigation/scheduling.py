"""Why a pod does or does not fit a node: the scheduler's filters (cordon, nodeSelector, node affinity,
taints, inter-pod affinity and anti-affinity, topology spread, host ports, resources), recomputed from the
objects so the answer names numbers and the pods in the way.

`tools/explain_scheduling.py` reads the nodes and the pods bound to each into a `Placement`; the evidence
keeps it, so the scheduling analyzer can check a fix by asking again whether the changed pod fits.
Unlike kube-scheduler, every filter that fails is reported (not only the first): a fix must lift all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from smart_sre.k8s import quantity
from smart_sre.k8s.owners import pod_spec

RESOURCES = ("cpu", "memory")
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
HOSTNAME = "kubernetes.io/hostname"
ANY_ADDRESS = "0.0.0.0"  # a hostPort without hostIP binds every address of the node
# kube-scheduler's NodePorts filter says so in FailedScheduling: "N node(s) didn't have free ports for the
# requested pod ports".
NODE_PORTS_REASON = "didn't have free ports for the requested pod ports"
# Label prefixes the kubelet and cloud providers set on every node (kubernetes.io/hostname, os, arch,
# zone, region, instance type): they say where a node is, not which team's pool it belongs to.
_KUBELET_LABEL_PREFIXES = frozenset(
    {
        "kubernetes.io",
        "beta.kubernetes.io",
        "topology.kubernetes.io",
        "failure-domain.beta.kubernetes.io",
        "node.kubernetes.io",
        "kubelet.kubernetes.io",
    }
)


def container_requests(container: dict) -> dict[str, Decimal]:
    """A container's requests; like the API server's defaulting, a limit without a request is the request."""
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    return {name: quantity.parse(requests.get(name, limits.get(name))) for name in RESOURCES}


def pod_requests(obj: dict) -> dict[str, Decimal]:
    """Effective requests: the sum over containers, at least the largest init container's."""
    spec = pod_spec(obj)
    total = {name: Decimal(0) for name in RESOURCES}
    for container in spec.get("containers") or []:
        for name, value in container_requests(container).items():
            total[name] += value
    for container in spec.get("initContainers") or []:
        for name, value in container_requests(container).items():
            total[name] = max(total[name], value)
    return total


def allocatable(node: dict) -> dict[str, Decimal]:
    values = (node.get("status") or {}).get("allocatable") or {}
    return {name: quantity.parse(values.get(name)) for name in RESOURCES}


def _terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


@dataclass(frozen=True)
class HostPort:
    """A node port one container asks for or holds: NodePorts' key (protocol, host address, port)."""

    container: str
    port: int
    protocol: str = "TCP"
    address: str = ANY_ADDRESS

    def clashes(self, other: HostPort) -> bool:
        """HostPortInfo.CheckConflict: one protocol and port, on one address or on every address."""
        same_address = self.address == other.address or ANY_ADDRESS in (self.address, other.address)
        return self.protocol == other.protocol and self.port == other.port and same_address

    def __str__(self) -> str:
        where = "" if self.address == ANY_ADDRESS else f" on {self.address}"
        return f"hostPort {self.port}/{self.protocol}{where}"


def host_ports(pod: dict) -> list[HostPort]:
    """The node ports a pod holds while it runs: its app containers' and its sidecars' (init containers
    with restartPolicy Always run beside the app; kube-scheduler counts them since 1.33), not those of
    init containers that finish first. A hostNetwork pod's container ports are host ports: the API server
    defaults its hostPort to the containerPort."""
    spec = pod_spec(pod)
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    found = []
    for container in [*sidecars, *(spec.get("containers") or [])]:
        for port in container.get("ports") or []:
            number = int(port.get("hostPort") or (spec.get("hostNetwork") and port.get("containerPort")) or 0)
            if number > 0:
                protocol, address = port.get("protocol") or "TCP", port.get("hostIP") or ANY_ADDRESS
                found.append(HostPort(container.get("name", "?"), number, protocol, address))
    return found


def requested_on(pods: list[dict]) -> dict[str, Decimal]:
    """Sum of requests of the pods that hold resources on a node (not finished)."""
    total = {name: Decimal(0) for name in RESOURCES}
    for pod in pods:
        if _terminal(pod):
            continue
        for name, value in pod_requests(pod).items():
            total[name] += value
    return total


def format_quantity(resource: str, value: Decimal) -> str:
    return quantity.format_cpu(value) if resource == "cpu" else quantity.format_memory(value)


def expression_matches(expression: dict, labels: dict[str, str]) -> bool:
    """One matchExpressions (or matchFields) entry: In, NotIn, Exists, DoesNotExist, Gt, Lt."""
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


def node_fields(node: dict) -> dict[str, str]:
    """What a nodeSelectorTerm's matchFields can name: only metadata.name."""
    return {"metadata.name": (node.get("metadata") or {}).get("name", "")}


def term_matches(term: dict, node: dict) -> bool:
    """A nodeSelectorTerm: every expression and field requirement holds; an empty term matches nothing."""
    expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    labels = (node.get("metadata") or {}).get("labels") or {}
    return bool(expressions or fields) and (
        all(expression_matches(e, labels) for e in expressions)
        and all(expression_matches(f, node_fields(node)) for f in fields)
    )


def affinity_terms(spec: dict) -> list[dict]:
    """The required nodeSelectorTerms (ORed); empty when the pod has no required node affinity."""
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    return (node_affinity.get(REQUIRED) or {}).get("nodeSelectorTerms") or []


def selector_mismatch(spec: dict, labels: dict[str, str]) -> dict[str, str]:
    """The nodeSelector entries this node's labels do not satisfy."""
    return {k: v for k, v in (spec.get("nodeSelector") or {}).items() if labels.get(k) != v}


def placement_matches(spec: dict, node: dict) -> bool:
    """nodeSelector and required node affinity both hold on the node."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    terms = affinity_terms(spec)
    return not selector_mismatch(spec, labels) and (not terms or any(term_matches(t, node) for t in terms))


def label_selector_matches(selector: dict | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector; a missing selector matches nothing, an empty one everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def tolerates(toleration: dict, taint: dict) -> bool:
    """One toleration against one taint: operator Equal by default, Exists without a key matches all."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    operator = toleration.get("operator", "Equal")
    if not toleration.get("key"):
        return operator == "Exists"
    if toleration["key"] != taint.get("key"):
        return False
    return operator == "Exists" or toleration.get("value", "") == taint.get("value", "")


def _domain(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else ""


def is_system_taint(taint: dict) -> bool:
    """A taint in a Kubernetes-reserved namespace (node conditions, cordon, the control plane's role):
    Kubernetes sets it to keep workloads off, so tolerating it is never a fix."""
    domain = _domain(taint.get("key") or "")
    return domain.endswith(("kubernetes.io", "k8s.io"))


def pool_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels that say which pool a node belongs to: all but those every kubelet sets."""
    return {k: v for k, v in labels.items() if _domain(k) not in _KUBELET_LABEL_PREFIXES}


def describe_taint(taint: dict) -> str:
    value = taint.get("value")
    return f"{taint.get('key')}{'=' + value if value else ''}:{taint.get('effect')}"


@dataclass
class Placement:
    """The nodes and the pods bound to each: what every filter reads, kept to re-check a changed pod."""

    nodes: list[dict] = field(default_factory=list)
    pods: dict[str, list[dict]] = field(default_factory=dict)  # node name -> pods bound there

    def node(self, name: str) -> dict | None:
        return next((n for n in self.nodes if n["metadata"]["name"] == name), None)

    def fits(self, pod: dict) -> list[NodeFit]:
        return [node_fit(pod, node, self) for node in self.nodes]

    def placed(self, pod: dict) -> list[tuple[dict, dict]]:
        """Every other bound, unfinished pod with its node."""
        name = (pod.get("metadata") or {}).get("name")
        return [
            (other, node)
            for node in self.nodes
            for other in self.pods.get(node["metadata"]["name"], [])
            if other["metadata"].get("name") != name and not _terminal(other)
        ]


@dataclass
class PortClash:
    """A host port the pod asks for that `holder`, bound to the node, already holds as `held`."""

    wanted: HostPort
    held: HostPort
    holder: dict

    def holder_name(self, namespace: str | None) -> str:
        """The holding pod as a finding names it: its namespace only where it is not the pod's own."""
        meta = self.holder.get("metadata") or {}
        name = meta.get("name", "?")
        return name if meta.get("namespace") == namespace else f"{meta.get('namespace')}/{name}"


@dataclass
class NodeFit:
    """One node's verdict: each blocker as (filter, explanation); filters are the keys of FILTERS."""

    node: str
    labels: dict[str, str] = field(default_factory=dict)
    blockers: list[tuple[str, str]] = field(default_factory=list)
    untolerated: list[dict] = field(default_factory=list)
    anti_terms: list[int] = field(default_factory=list)  # required podAntiAffinity terms that clash here
    spread: list[int] = field(default_factory=list)  # DoNotSchedule topologySpreadConstraints violated here
    excluded_by: list[dict] = field(
        default_factory=list
    )  # bound pods whose required anti-affinity excludes it
    ports: list[PortClash] = field(default_factory=list)  # host ports pods bound here already hold
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


FILTERS = (
    "cordon",
    "nodeSelector",
    "nodeAffinity",
    "taint",
    "podAffinity",
    "podAntiAffinity",
    "existingAntiAffinity",
    "topologySpread",
    "hostPort",
    "cpu",
    "memory",
)


def _term_namespaces(term: dict, owner: dict) -> set[str] | None:
    """The namespaces an inter-pod (anti-)affinity term looks at; None means all of them."""
    if term.get("namespaceSelector") is not None and not term.get("namespaces"):
        return None
    return set(term.get("namespaces") or [(owner.get("metadata") or {}).get("namespace", "default")])


def _term_matches_pod(term: dict, owner: dict, other: dict) -> bool:
    namespaces = _term_namespaces(term, owner)
    if namespaces is not None and other["metadata"].get("namespace") not in namespaces:
        return False
    return label_selector_matches(term.get("labelSelector"), other["metadata"].get("labels") or {})


def _same_domain(key: str, node: dict, other: dict) -> bool:
    value = (node["metadata"].get("labels") or {}).get(key)
    return value is not None and value == (other["metadata"].get("labels") or {}).get(key)


def _pod_terms(pod: dict, kind: str) -> list[dict]:
    return ((pod_spec(pod).get("affinity") or {}).get(kind) or {}).get(REQUIRED) or []


def _inter_pod(pod: dict, node: dict, placement: Placement, fit: NodeFit) -> None:
    placed = placement.placed(pod)
    for term in _pod_terms(pod, "podAffinity"):
        matching = [n for other, n in placed if _term_matches_pod(term, pod, other)]
        if not matching and _term_matches_pod(term, pod, pod):
            continue  # the first pod of a self-affine group may go anywhere
        if not any(_same_domain(term.get("topologyKey", ""), node, n) for n in matching):
            fit.blockers.append(("podAffinity", "pod affinity: no matching pod runs in this node's domain"))
    for index, term in enumerate(_pod_terms(pod, "podAntiAffinity")):
        key = term.get("topologyKey", "")
        clash = sorted(
            other["metadata"]["name"]
            for other, n in placed
            if _term_matches_pod(term, pod, other) and _same_domain(key, node, n)
        )
        if clash:
            fit.anti_terms.append(index)
            fit.blockers.append(
                ("podAntiAffinity", f"pod anti-affinity ({key}): already runs {', '.join(clash[:3])}")
            )
    fit.excluded_by = [
        other
        for other, n in placed
        if any(
            _term_matches_pod(term, other, pod) and _same_domain(term.get("topologyKey", ""), node, n)
            for term in _pod_terms(other, "podAntiAffinity")
        )
    ]
    if fit.excluded_by:
        names = ", ".join(sorted(other["metadata"]["name"] for other in fit.excluded_by)[:3])
        fit.blockers.append(("existingAntiAffinity", f"the anti-affinity of {names} excludes this pod"))


def _spread_selector(constraint: dict, pod: dict) -> dict:
    """The constraint's selector, with matchLabelKeys folded in as the pod's own values."""
    selector = dict(constraint.get("labelSelector") or {})
    labels = (pod.get("metadata") or {}).get("labels") or {}
    keys = [k for k in constraint.get("matchLabelKeys") or [] if k in labels]
    if keys:
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), **{k: labels[k] for k in keys}}
    return selector


def _spread(pod: dict, node: dict, placement: Placement, fit: NodeFit) -> None:
    """DoNotSchedule topology spread: skew = pods in this node's domain (+1 for this pod) - the fewest in any."""
    spec = pod_spec(pod)
    namespace = (pod.get("metadata") or {}).get("namespace")
    for index, constraint in enumerate(spec.get("topologySpreadConstraints") or []):
        if constraint.get("whenUnsatisfiable", "DoNotSchedule") != "DoNotSchedule":
            continue
        key = constraint.get("topologyKey", "")
        labels = node["metadata"].get("labels") or {}
        if key not in labels:
            fit.spread.append(index)
            fit.blockers.append(("topologySpread", f"topology spread: node has no label {key}"))
            continue
        eligible = [
            n
            for n in placement.nodes
            if key in (n["metadata"].get("labels") or {})
            and (constraint.get("nodeAffinityPolicy", "Honor") != "Honor" or placement_matches(spec, n))
        ]
        counts = {n["metadata"]["labels"][key]: 0 for n in eligible}
        selector = _spread_selector(constraint, pod)
        for other, n in placement.placed(pod):
            value = (n["metadata"].get("labels") or {}).get(key)
            if value in counts and other["metadata"].get("namespace") == namespace:
                counts[value] += label_selector_matches(selector, other["metadata"].get("labels") or {})
        enough = len(counts) >= int(constraint.get("minDomains") or 1)
        lowest = min(counts.values()) if counts and enough else 0
        mine = counts.get(labels[key], 0) + label_selector_matches(
            selector, (pod.get("metadata") or {}).get("labels") or {}
        )
        max_skew = int(constraint.get("maxSkew") or 1)
        if mine - lowest > max_skew:
            fit.spread.append(index)
            fit.blockers.append(
                (
                    "topologySpread",
                    f"topology spread ({key}): {mine - 1} matching pods in {labels[key]}, "
                    f"{lowest} in the emptiest domain, maxSkew {max_skew}",
                )
            )


def _host_ports(pod: dict, bound: list[dict], fit: NodeFit) -> None:
    """NodePorts: each host port of the pod that a pod bound to the node already holds."""
    namespace = (pod.get("metadata") or {}).get("namespace")
    for wanted in host_ports(pod):
        clash = next(
            (
                PortClash(wanted, held, other)
                for other in bound
                for held in host_ports(other)
                if wanted.clashes(held)
            ),
            None,
        )
        if clash is not None:
            fit.ports.append(clash)
            fit.blockers.append(
                (
                    "hostPort",
                    f"{wanted} of container {wanted.container} is held by pod {clash.holder_name(namespace)} "
                    f"(container {clash.held.container})",
                )
            )


def node_fit(pod: dict, node: dict, placement: Placement) -> NodeFit:
    """Every filter the pod fails on this node, worded with the numbers involved."""
    spec = pod_spec(pod)
    node_meta = node.get("metadata") or {}
    labels = node_meta.get("labels") or {}
    fit = NodeFit(node=node_meta.get("name", "?"), labels=dict(labels))
    if (node.get("spec") or {}).get("unschedulable"):
        fit.blockers.append(("cordon", "node is cordoned (unschedulable)"))
    mismatched = selector_mismatch(spec, labels)
    if mismatched:
        wanted = ",".join(f"{k}={v}" for k, v in sorted(mismatched.items()))
        fit.blockers.append(("nodeSelector", f"nodeSelector {wanted} does not match the node's labels"))
    terms = affinity_terms(spec)
    if terms and not any(term_matches(term, node) for term in terms):
        fit.blockers.append(("nodeAffinity", "required node affinity does not match the node's labels"))
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not any(
            tolerates(t, taint) for t in spec.get("tolerations") or []
        ):
            fit.untolerated.append(taint)
            fit.blockers.append(("taint", f"untolerated taint {describe_taint(taint)}"))
    _inter_pod(pod, node, placement, fit)
    _spread(pod, node, placement, fit)
    bound = [other for other, n in placement.placed(pod) if n["metadata"]["name"] == fit.node]
    _host_ports(pod, bound, fit)
    wanted = pod_requests(pod)
    fit.allocatable = allocatable(node)
    used = requested_on(bound)
    for resource in RESOURCES:
        fit.free[resource] = fit.allocatable[resource] - used[resource]
        if wanted[resource] > fit.free[resource]:
            fit.blockers.append(
                (
                    resource,
                    f"Insufficient {resource}: requests {format_quantity(resource, wanted[resource])}, "
                    f"free {format_quantity(resource, max(fit.free[resource], Decimal(0)))} "
                    f"of {format_quantity(resource, fit.allocatable[resource])} allocatable",
                )
            )
    return fit
