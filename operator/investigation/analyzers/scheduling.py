"""Pending pods: what holds them (an unbound claim, a placement rule, too few free resources), and the
smallest change to the pod template that lets a node that exists take them.

Called by `analyzers.candidates` for a Pending trigger. A placement fix corrects only what the facts show
to be a slip: a nodeSelector or node affinity value to the closest value that nodes carry for that key,
a label key or topology key to the closest key nodes carry, a toleration for the pool the pod already
selects (or a toleration of that taint's key whose value is off); or it turns a rule among the pod's own
replicas (anti-affinity, topology spread) into a preference. It never tolerates a taint of a pool the pod
does not ask for: that moves the workload onto someone else's nodes, so the finding says the pod's own
pool lacks capacity instead. Every fix is checked before it is offered: the changed pod goes through the
same filters (`Placement.fits`) and must fit the node it was made for.

A hostPort that pods bound to every node it may use already hold gets findings only: they name the port,
the container that asks for it and the pod that holds it. Dropping or moving a hostPort changes how clients
reach the app, and running fewer replicas changes its capacity: both are its owner's decision.
"""

from __future__ import annotations

import copy
import difflib
from collections import Counter
from dataclasses import dataclass, field

import jsonpatch

from smart_sre.api.common import RootCause, Trigger
from smart_sre.investigation.analyzers import requests
from smart_sre.investigation.analyzers.base import Candidate, ProposedPatch, escape, quote, template_target
from smart_sre.investigation.claims import claim_problems
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.scheduling import (
    FILTERS,
    NODE_PORTS_REASON,
    RESOURCES,
    NodeFit,
    Placement,
    affinity_terms,
    describe_taint,
    expression_matches,
    is_system_taint,
    label_selector_matches,
    node_fields,
    pool_labels,
    term_matches,
)
from smart_sre.k8s.owners import controller_ref, pod_spec

_LOOKS_LIKE_TYPO = 0.6  # similarity above which a value or key reads as a slip of the one nodes carry
_SIMILAR_KEY = 0.8
# How directly the labels support a repair: a slip of one carried value; the only value of the key; one of
# several values (a guess); a required rule among its own replicas made a preference; a rule dropped.
_TYPO, _ONLY_VALUE, _OTHER_VALUE, _SOFTENED, _DROPPED = 0.85, 0.8, 0.65, 0.7, 0.6


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
        candidates.append(requests.lower_requests(evidence, resource_blocked, total))
    port_blocked = [fit for fit in evidence.fits if fit.ports]
    if port_blocked:
        candidates.append(_ports_taken(evidence, port_blocked, total))
    placement_blocked = [fit for fit in evidence.fits if not fit.filters <= {*RESOURCES, "hostPort"}]
    if placement_blocked:
        candidates.append(_placement(evidence, placement_blocked, total))
    return candidates


def _storage(evidence: Evidence) -> list[Candidate]:
    problems = claim_problems(evidence.pod, evidence.pvcs, evidence.storage)
    if not problems:
        return []
    phases = {
        name: "missing" if claim is None else (claim.get("status") or {}).get("phase", "Pending")
        for name, claim in evidence.pvcs.items()
    }
    facts = tuple(
        f"PersistentVolumeClaim {p.claim} is {phases.get(p.claim, 'missing')}: {p.problem}" for p in problems
    )
    remedies = "; ".join(f"{p.claim}: {p.remedy}" for p in problems)
    return [
        Candidate(
            root_cause=RootCause.UNSATISFIABLE_SCHEDULING,
            summary=f"The pod cannot be scheduled: {'; '.join(facts)}. To fix: {remedies}.",
            score=0.9,
            facts=facts,
            no_patch_reason=f"a claim's spec is immutable and volumes are outside what smart-sre may patch: {remedies}",
        )
    ]


@dataclass(frozen=True)
class _Repair:
    """Operations on the target that lift one blocker on one node, said in words, and how sure they are."""

    operations: tuple[dict, ...]
    change: str
    score: float
    closeness: float = 1.0  # how alike the corrected and the carried value read: ranks equally sure plans


@dataclass(frozen=True)
class _Site:
    """A node a plan is made for, and the pod spec with the plan's repairs so far (a later filter reads it)."""

    fit: NodeFit
    node: dict
    spec: dict


@dataclass(frozen=True)
class _Refusal:
    """Why no safe change lifts a blocker on a node; `pool` when the node belongs to others' workloads."""

    reason: str
    pool: bool = False


@dataclass
class _Plan:
    node: str
    repairs: list[_Repair] = field(default_factory=list)
    refusals: list[_Refusal] = field(default_factory=list)
    freed: list[str] = field(default_factory=list)  # nodes the changed pod fits

    @property
    def score(self) -> float:
        return min((r.score for r in self.repairs), default=0.0)

    @property
    def closeness(self) -> float:
        return min((r.closeness for r in self.repairs), default=0.0)

    @property
    def operations(self) -> list[dict]:
        return [op for repair in self.repairs for op in repair.operations]


def _sibling(evidence: Evidence, pod: dict) -> bool:
    """A pod of the same workload: the changed template replaces it as the rollout goes on."""
    owner = evidence.top_owner
    selector = (owner.get("spec") or {}).get("selector") if owner.get("kind") != "Pod" else None
    same_namespace = pod["metadata"].get("namespace") == evidence.namespace
    return same_namespace and label_selector_matches(selector, pod["metadata"].get("labels") or {})


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


class _Planner:
    """Repairs for each node the pod misses on placement rules alone; the facts are the nodes' labels."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self.target, self.pointer, self.spec = template_target(evidence)
        self.values: dict[str, Counter[str]] = {}
        for node in evidence.placement.nodes:
            for key, value in [
                *node_fields(node).items(),
                *((node.get("metadata") or {}).get("labels") or {}).items(),
            ]:
                self.values.setdefault(key, Counter())[value] += 1

    def plan(self, fit: NodeFit) -> _Plan:
        plan = _Plan(fit.node)
        node = self.evidence.placement.node(fit.node) or {}
        for name in sorted(fit.filters, key=FILTERS.index):
            repair = _REPAIRS.get(name)
            spec = self._patched(plan.operations)
            if spec is None:
                plan.refusals.append(_Refusal("the changes so far do not apply to the template"))
                break
            found = repair(self, _Site(fit, node, spec)) if repair else _Refusal(_WHY_NOT[name])
            if isinstance(found, _Refusal):
                plan.refusals.append(found)
            else:
                plan.repairs.append(found)
        if not plan.refusals:
            self._verify(plan)
        return plan

    def _patched(self, operations: list[dict]) -> dict | None:
        """The template's pod spec with the operations applied; None when they do not apply."""
        try:
            return pod_spec(jsonpatch.apply_patch(copy.deepcopy(self.evidence.top_owner), operations))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
            return None

    def _sibling(self, pod: dict) -> bool:
        return _sibling(self.evidence, pod)

    def _verify(self, plan: _Plan) -> None:
        """Run the changed pod through the filters, its workload's other pods changed alike (the rollout
        replaces them): the plan stands only if its node then fits."""
        spec = self._patched(plan.operations)
        if spec is None:
            plan.refusals.append(_Refusal("the change does not apply to the template"))
            return
        placement = self.evidence.placement
        after = Placement(
            placement.nodes,
            {
                name: [{**p, "spec": {**spec, "nodeName": name}} if self._sibling(p) else p for p in pods]
                for name, pods in placement.pods.items()
            },
        )
        pod = {"metadata": self.evidence.pod["metadata"], "spec": spec}
        fits = after.fits(pod)
        plan.freed = [fit.node for fit in fits if fit.fits]
        if plan.node not in plan.freed:
            still = next((fit.reasons for fit in fits if fit.node == plan.node), [])
            plan.refusals.append(_Refusal(f"even changed, the pod is refused: {'; '.join(still)}"))
        elif not any(fit.fits for fit in placement.fits(pod)) and (
            stall := _rollout_stalls(self.evidence.top_owner)
        ):
            plan.refusals.append(_Refusal(stall))

    # --- value and key slips: the closest of what nodes carry -------------------------------------------

    def _value_repair(self, key: str, wanted: str, carried: str, path: str, what: str) -> _Repair:
        """`wanted` becomes `carried`: sure when it reads as a slip of it and of no other value of the key."""
        closeness = _similarity(wanted, carried)
        others = [v for v in self.values.get(key, {}) if v != carried]
        rivals = [v for v in others if _similarity(wanted, v) >= closeness]
        if not others:
            score = _ONLY_VALUE if closeness < _LOOKS_LIKE_TYPO else _TYPO
        else:
            score = _TYPO if closeness >= _LOOKS_LIKE_TYPO and not rivals else _OTHER_VALUE
        why = "" if score == _TYPO or not others else f" (nodes also carry {', '.join(sorted(others)[:3])})"
        operation = {"op": "replace", "path": path, "value": carried}
        return _Repair((operation,), f"{what} {wanted} -> {carried}{why}", score, closeness)

    def _similar_key(self, key: str, labels: dict[str, str]) -> str | None:
        close = [k for k in labels if _similarity(k, key) >= _SIMILAR_KEY]
        return max(close, key=lambda k: _similarity(k, key), default=None)

    def selector(self, site: _Site) -> _Repair | _Refusal:
        fit, selector = site.fit, self.spec.get("nodeSelector") or {}
        operations: list[dict] = []
        changes, scores, closeness = [], [], [1.0]
        for key, value in sorted(selector.items()):
            carried = fit.labels.get(key)
            path = f"{self.pointer}/nodeSelector/{escape(key)}"
            if carried == value:
                continue
            if carried is not None:
                repair = self._value_repair(key, value, carried, path, f"nodeSelector {key}:")
                operations += repair.operations
                changes.append(repair.change)
                scores.append(repair.score)
                closeness.append(repair.closeness)
                continue
            similar = self._similar_key(key, fit.labels)
            if similar is not None and similar not in selector:
                operations += [
                    {"op": "remove", "path": path},
                    {
                        "op": "add",
                        "path": f"{self.pointer}/nodeSelector/{escape(similar)}",
                        "value": fit.labels[similar],
                    },
                ]
                changes.append(f"nodeSelector key {key} -> {similar}={fit.labels[similar]}")
                scores.append(_TYPO)
                continue
            others = [k for k in selector if k != key and fit.labels.get(k) == selector[k]]
            if key in self.values or not (others or affinity_terms(self.spec)):
                return _Refusal(
                    f"the pod asks for {key}={value}, and no label {key} nor a similar key is there"
                )
            operations.append({"op": "remove", "path": path})
            changes.append(
                f"drop nodeSelector {key}={value}: no node carries {key}, {', '.join(others) or 'node affinity'} still places it"
            )
            scores.append(_DROPPED)
        return _Repair(tuple(operations), "; ".join(changes), min(scores, default=_TYPO), min(closeness))

    def _expression(
        self, expression: dict, path: str, labels: dict[str, str], others_hold: bool
    ) -> _Repair | _Refusal:
        """One failing expression, corrected towards this node's labels where that reads as a slip."""
        key, operator, values = (
            expression.get("key", ""),
            expression.get("operator"),
            expression.get("values") or [],
        )
        what = f"node affinity {key} {operator}"
        if operator == "In" and key in labels and values:
            index = max(range(len(values)), key=lambda i: _similarity(values[i], labels[key]))
            return self._value_repair(key, values[index], labels[key], f"{path}/values/{index}", what)
        if operator in ("In", "Exists") and key not in labels:
            similar = self._similar_key(key, labels)
            if similar is not None and expression_matches({**expression, "key": similar}, labels):
                operation = {"op": "replace", "path": f"{path}/key", "value": similar}
                return _Repair((operation,), f"{what}: key {key} -> {similar}", _TYPO)
            if key not in self.values and others_hold:
                return _Repair(
                    ({"op": "remove", "path": path},), f"drop {what}: no node carries {key}", _DROPPED
                )
            return _Refusal(f"no label {key} is there ({what} {' '.join(values)})")
        shown = labels.get(key, "(none)")
        return _Refusal(
            f"node affinity {key} {operator} {' '.join(values)} excludes it on purpose ({key}={shown})"
        )

    def _term(self, path: str, term: dict, fit: NodeFit, node: dict) -> _Repair | _Refusal:
        """Repairs that make one nodeSelectorTerm match the node: every failing requirement fixed."""
        repairs: list[_Repair] = []
        for part, labels in (("matchExpressions", fit.labels), ("matchFields", node_fields(node))):
            requirements = term.get(part) or []
            failing = [i for i, r in enumerate(requirements) if not expression_matches(r, labels)]
            others_hold = len(requirements) > len(failing)
            # Removals go last-first, so each index still points where it did.
            for i in sorted(failing, reverse=True):
                found = self._expression(requirements[i], f"{path}/{part}/{i}", labels, others_hold)
                if isinstance(found, _Refusal):
                    return found
                repairs.append(found)
        if not repairs:
            return _Refusal("an empty node affinity term matches no node")
        return _Repair(
            tuple(op for r in repairs for op in r.operations),
            "; ".join(r.change for r in repairs),
            min(r.score for r in repairs),
            min(r.closeness for r in repairs),
        )

    def affinity(self, site: _Site) -> _Repair | _Refusal:
        """The term (they are ORed) that the fewest, surest changes make match this node."""
        base = f"{self.pointer}/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"
        terms = affinity_terms(self.spec)
        found = [self._term(f"{base}/{t}", term, site.fit, site.node) for t, term in enumerate(terms)]
        repairs = [f for f in found if isinstance(f, _Repair)]
        if repairs:
            return max(repairs, key=lambda r: (r.score, r.closeness, -len(r.operations)))
        return next(
            (f for f in found if isinstance(f, _Refusal)), _Refusal("no node affinity term can match it")
        )

    # --- taints: only the pod's own pool -----------------------------------------------------------------

    @staticmethod
    def _asks_for_pool(site: _Site) -> dict[str, str]:
        """The node's pool labels that the pod, with its selector and affinity repairs, asks for."""
        pool = pool_labels(site.fit.labels)
        asked = {k: v for k, v in (site.spec.get("nodeSelector") or {}).items() if pool.get(k) == v}
        for term in affinity_terms(site.spec):
            if term_matches(term, site.node):
                for expression in term.get("matchExpressions") or []:
                    key = expression.get("key", "")
                    if key in pool and expression.get("operator") in ("In", "Exists"):
                        asked[key] = pool[key]
        return asked

    def taint(self, site: _Site) -> _Repair | _Refusal:
        """Tolerate only taints of the pool the pod asks for, or fix a toleration of the taint's own key."""
        fit, tolerations = site.fit, self.spec.get("tolerations") or []
        operations: list[dict] = []
        changes, additions = [], []
        for taint in fit.untolerated:
            shown = describe_taint(taint)
            if is_system_taint(taint):
                return _Refusal(f"taint {shown} is one Kubernetes sets to keep pods off", pool=True)
            own = next((i for i, t in enumerate(tolerations) if t.get("key") == taint.get("key")), None)
            mine = tolerations[own] if own is not None else {}
            if (
                mine.get("operator", "Equal") == "Equal"
                and mine.get("effect") in (None, "", taint.get("effect"))
                and mine
            ):
                path = f"{self.pointer}/tolerations/{own}/value"
                operations.append({"op": "replace", "path": path, "value": taint.get("value", "")})
                changes.append(
                    f"toleration {taint.get('key')} value {mine.get('value', '')} -> {taint.get('value', '')}"
                )
                continue
            asked = self._asks_for_pool(site)
            if not mine and not asked:
                pool = sorted(pool_labels(fit.labels).items())[:3]
                labels = f" ({', '.join(f'{k}={v}' for k, v in pool)})" if pool else ""
                return _Refusal(
                    f"taint {shown} marks a pool{labels} the pod does not ask for: tolerating it would move the "
                    "workload onto nodes reserved for others",
                    pool=True,
                )
            toleration = {"key": taint.get("key"), "operator": "Exists", "effect": taint.get("effect")}
            if taint.get("value"):
                toleration = {**toleration, "operator": "Equal", "value": taint["value"]}
            additions.append(toleration)
            why = ", ".join(f"{k}={v}" for k, v in sorted(asked.items()))
            changes.append(
                f"tolerate {shown} ({f'the pod selects {why}' if asked else 'it tolerates that key already'})"
            )
        if additions and "tolerations" in self.spec:
            operations += [
                {"op": "add", "path": f"{self.pointer}/tolerations/-", "value": t} for t in additions
            ]
        elif additions:
            operations.append({"op": "add", "path": f"{self.pointer}/tolerations", "value": additions})
        return _Repair(tuple(operations), "; ".join(changes), _TYPO)

    # --- rules among the pod's own replicas: required becomes preferred --------------------------------

    def _own(self, selector: dict | None) -> bool:
        return label_selector_matches(selector, (self.evidence.pod.get("metadata") or {}).get("labels") or {})

    def anti_affinity(self, site: _Site) -> _Repair | _Refusal:
        anti = (self.spec.get("affinity") or {}).get("podAntiAffinity") or {}
        required = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        clashing = [i for i in site.fit.anti_terms if i < len(required)]
        if not clashing or not all(self._own(required[i].get("labelSelector")) for i in clashing):
            return _Refusal(
                "its pod anti-affinity keeps it away from other workloads' pods, which run on every node"
            )
        kept = [term for i, term in enumerate(required) if i not in clashing]
        value = {k: v for k, v in anti.items() if k != "requiredDuringSchedulingIgnoredDuringExecution"}
        if kept:
            value["requiredDuringSchedulingIgnoredDuringExecution"] = kept
        value["preferredDuringSchedulingIgnoredDuringExecution"] = [
            *(anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []),
            *({"weight": 100, "podAffinityTerm": required[i]} for i in clashing),
        ]
        keys = ", ".join(sorted({required[i].get("topologyKey", "") for i in clashing}))
        return _Repair(
            ({"op": "replace", "path": f"{self.pointer}/affinity/podAntiAffinity", "value": value},),
            f"required pod anti-affinity per {keys} among its own replicas becomes preferred",
            _SOFTENED,
        )

    def existing(self, site: _Site) -> _Repair | _Refusal:
        """Other pods' anti-affinity: only its own workload's pods, which the changed template replaces."""
        if all(self._sibling(pod) for pod in site.fit.excluded_by):
            return _Repair((), "", _TYPO)
        return _Refusal("another workload's pod anti-affinity keeps it off the node")

    def spread(self, site: _Site) -> _Repair | _Refusal:
        fit, constraints = site.fit, self.spec.get("topologySpreadConstraints") or []
        operations: list[dict] = []
        changes = []
        for i in fit.spread:
            if i >= len(constraints):
                return _Refusal("its topology spread constraints differ from the template's")
            key, path = constraints[i].get("topologyKey", ""), f"{self.pointer}/topologySpreadConstraints/{i}"
            if key not in fit.labels:
                similar = self._similar_key(key, fit.labels)
                if similar is None:
                    return _Refusal(f"no topology key {key} nor a similar key is there")
                operations.append({"op": "replace", "path": f"{path}/topologyKey", "value": similar})
                changes.append(f"topologySpreadConstraints[{i}] topologyKey {key} -> {similar}")
            elif self._own(constraints[i].get("labelSelector")):
                # "add" sets the field whether or not the template spells out its default.
                operations.append(
                    {"op": "add", "path": f"{path}/whenUnsatisfiable", "value": "ScheduleAnyway"}
                )
                changes.append(f"topologySpreadConstraints[{i}] ({key}) becomes ScheduleAnyway")
            else:
                return _Refusal(f"its topology spread ({key}) counts other workloads' pods")
        score = _TYPO if all("topologyKey" in op["path"] for op in operations) else _SOFTENED
        return _Repair(tuple(operations), "; ".join(changes), score)


def _max_unavailable(owner: dict) -> int:
    """A Deployment's rollingUpdate.maxUnavailable in pods (25% by default, rounded down as the controller does)."""
    replicas = int((owner.get("spec") or {}).get("replicas", 1))
    rolling = ((owner.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return replicas * int(value[:-1]) // 100
    return int(value)


def _rollout_stalls(owner: dict) -> str | None:
    """Why the rollout of the changed template would stall while its old pods still exclude the new ones.

    The new pod fits only once old pods are gone: a StatefulSet, a DaemonSet or a Recreate Deployment
    removes an old pod first; a rolling Deployment does so only while fewer pods than maxUnavailable are
    unavailable (the Pending one is among them)."""
    spec = owner.get("spec") or {}
    if owner.get("kind") != "Deployment" or (spec.get("strategy") or {}).get("type") == "Recreate":
        return None
    unavailable = int(spec.get("replicas", 1)) - int(
        (owner.get("status") or {}).get("availableReplicas") or 0
    )
    allowed = _max_unavailable(owner)
    if allowed - unavailable >= 1:
        return None
    return (
        f"the rollout would stall: the running replicas' required anti-affinity keeps each new pod off every "
        f"node, and maxUnavailable {allowed} with {unavailable} replicas already unavailable removes none of "
        "them first; relax it together with a higher maxUnavailable, or run fewer replicas than nodes"
    )


_REPAIRS = {
    "nodeSelector": _Planner.selector,
    "nodeAffinity": _Planner.affinity,
    "taint": _Planner.taint,
    "podAntiAffinity": _Planner.anti_affinity,
    "existingAntiAffinity": _Planner.existing,
    "topologySpread": _Planner.spread,
}
_WHY_NOT = {
    "cordon": "the node is cordoned",
    "hostPort": "a pod there already holds the hostPort it asks for",
    "podAffinity": "its pod affinity asks for pods that run on no node it could use",
    "cpu": "the node also lacks cpu",
    "memory": "the node also lacks memory",
}


def _placement(evidence: Evidence, blocked: list[NodeFit], total: int) -> Candidate:
    planner = _Planner(evidence)
    plans = [planner.plan(fit) for fit in blocked]
    workable = [plan for plan in plans if not plan.refusals and plan.operations]
    reasons = list(dict.fromkeys(reason for fit in blocked for reason in fit.reasons))
    cause = f"The pod's placement rules exclude every node ({'; '.join(reasons[:2])})"
    score = 0.85 if len(blocked) == total else 0.7
    if workable:
        best = min(workable, key=lambda p: (-p.score, -p.closeness, -len(p.freed), len(p.operations), p.node))
        more = f" and {len(best.freed) - 1} more" if len(best.freed) > 1 else ""
        return Candidate(
            root_cause=RootCause.UNSATISFIABLE_SCHEDULING,
            summary=f"{cause}. Change {'; '.join(r.change for r in best.repairs if r.change)}: then node {best.node}{more} takes it.",
            score=min(score, best.score),
            patch=ProposedPatch(planner.target, best.operations),
            facts=tuple(reasons[:4]),
        )
    where: dict[_Refusal, list[str]] = {}
    for plan in plans:
        for refusal in plan.refusals:
            where.setdefault(refusal, []).append(plan.node)
    missing = (
        "capacity is missing for the pod's own pool: add nodes it may use, or free room on them"
        if any(refusal.pool for refusal in where)
        else "no change to its placement rules is supported by the nodes' labels"
    )
    why = "; ".join(
        f"On {', '.join(nodes[:3])}: {refusal.reason}" for refusal, nodes in list(where.items())[:2]
    )
    return Candidate(
        root_cause=RootCause.UNSATISFIABLE_SCHEDULING,
        summary=f"{cause}. {why}; {missing}.",
        score=score,
        facts=tuple(reasons[:4]),
        no_patch_reason=f"{why}; {missing}",
    )


def _revision(pod: dict) -> tuple[str | None, str | None]:
    """Which revision of its workload a pod runs: its controller, and the template hash the controller
    labels it with (pod-template-hash of a ReplicaSet, controller-revision-hash of a DaemonSet or StatefulSet)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    revision = labels.get("pod-template-hash") or labels.get("controller-revision-hash")
    return (controller_ref(pod) or {}).get("uid"), revision


def _ports_taken(evidence: Evidence, blocked: list[NodeFit], total: int) -> Candidate:
    """Findings for host ports that pods bound to the nodes already hold: which port, whose, and why the
    pod cannot share it (one pod per node and address may bind it)."""
    namespace, target = evidence.namespace, template_target(evidence)[0]
    clashes = [(fit.node, clash) for fit in blocked for clash in fit.ports]
    first = clashes[0][1]
    wanted = {str(clash.wanted) for _, clash in clashes}
    more = f" (and {len(wanted) - 1} more)" if len(wanted) > 1 else ""
    nodes = list(dict.fromkeys(node for node, _ in clashes))
    holders = {clash.holder_name(namespace): clash.holder for _, clash in clashes}
    own = [name for name, pod in holders.items() if _sibling(evidence, pod)]
    earlier = [name for name in own if _revision(holders[name]) != _revision(evidence.pod)]
    others = [name for name in holders if name not in own]
    where = f"node {nodes[0]}" if len(nodes) == 1 else f"nodes {', '.join(nodes[:3])}"
    if others:
        held = f"pod {', '.join(others[:2])} of another workload holds it on {where}"
        advice = "choose a hostPort that is free there, or drop it and use a Service"
    elif earlier:
        held = f"the earlier revision's pod {', '.join(earlier[:2])} still holds it on {where}"
        advice = (
            "a rollout cannot add the new pod there until the old one is gone: let the old pod go first "
            "(maxSurge 0 and maxUnavailable 1, or the Recreate strategy), or drop the hostPort and use a Service"
        )
    else:
        held = f"its own replica {', '.join(own[:2])} holds it on {where}"
        advice = (
            f"{target} runs at most one replica per node: run no more replicas than nodes, or drop the "
            "hostPort and use a Service"
        )
    summary = (
        f"The pod cannot be scheduled: container {first.wanted.container} asks for {first.wanted}{more}, and "
        f"{held}. Only one pod on a node can hold a hostPort, so {advice}."
    )
    alone = all(fit.filters == {"hostPort"} for fit in blocked)
    score = 0.9 if alone and len(blocked) == total else 0.75 if alone else 0.6
    said = [
        quote(event.get("message", ""))
        for event in evidence.events
        if event.get("reason") == "FailedScheduling" and NODE_PORTS_REASON in event.get("message", "")
    ][-1:]
    return Candidate(
        root_cause=RootCause.UNSATISFIABLE_SCHEDULING,
        summary=quote(summary, 400),
        score=score,
        facts=(
            *(
                f"node {node}: {clash.wanted} held by {clash.holder_name(namespace)}"
                for node, clash in clashes[:3]
            ),
            *said,
        ),
        no_patch_reason=(
            f"{first.wanted} is how clients reach the app on its node's address: dropping or moving it, or "
            "running fewer replicas, changes how the app is reached or served, which is its owner's choice"
        ),
    )
