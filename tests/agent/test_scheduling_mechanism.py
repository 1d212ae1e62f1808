"""Pending pods held by placement rules or claims: a fix corrects only a slip the nodes' labels show (a value
or key typo, a toleration of the pool the pod selects), loosens only rules among the pod's own replicas, is
re-checked against the filters, and never moves a workload onto a pool tainted for others."""

from __future__ import annotations

import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.api.debugpolicy import DEFAULT_ALLOWED_PATHS, Remediation
from smart_sre.investigation.patch_safety import vet_patch
from smart_sre.investigation.scheduling import Placement

from .fakes import FakeCluster
from .pods import investigate, pod_event, vetted
from .scenarios import node, workload


def _pending(name: str, namespace: str, spec: dict, labels: dict | None = None) -> list[dict]:
    """Deployment -> ReplicaSet -> Pending Pod of `spec` in `namespace` (the pod last)."""
    objects = list(workload(name, spec, phase="Pending"))
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
        if labels:
            for template in (obj["spec"].get("template"), obj):
                if template is not None:
                    template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    return objects


def _running(name: str, namespace: str, node_name: str, labels: dict) -> dict:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"nodeName": node_name, "containers": [{"name": "app", "image": "x:1"}]},
        "status": {"phase": "Running"},
    }


async def _found(nodes: list[dict], objects: list[dict], extra: list[dict] | None = None):
    """Investigate the Pending pod (the last object) on a cluster of `nodes`, `objects` and `extra`."""
    cluster = FakeCluster([*nodes, *objects, *(extra or [])])
    return await investigate([], objects[-1], Trigger.PENDING, cluster=cluster)


async def _best(nodes: list[dict], objects: list[dict], extra: list[dict] | None = None):
    cluster, chain, evidence, found = await _found(nodes, objects, extra)
    return cluster, chain, evidence, found[0]


def _app(name: str = "app", **fields) -> dict:
    return {"name": name, "image": f"registry.local/{name}:2.0", **fields}


# --- nodeSelector: the closest value of the key nodes carry ----------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "key", "wanted", "carried", "other"),
    [
        ("search", "disktype", "nvmee", "nvme", "hdd"),
        ("billing", "topology.kubernetes.io/zone", "eu-west-1x", "eu-west-1a", "us-east-2b"),
        ("ml", "accelerator-class", "a100", "a10g", "t4"),
        ("edge", "tier", "fronted", "frontend", "backend"),
        ("ops", "team", "Payments", "payments", "catalog"),
    ],
)
async def test_a_node_selector_typo_takes_the_closest_value_of_that_key(
    namespace, key, wanted, carried, other
):
    nodes = [node("n-a", labels={key: carried}), node("n-b", labels={key: other}), node("n-c")]
    objects = _pending("svc", namespace, {"containers": [_app()], "nodeSelector": {key: wanted}})
    cluster, chain, _, best = await _best(nodes, objects)
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    escaped = key.replace("/", "~1")
    assert best.patch.operations == [
        {"op": "replace", "path": f"/spec/template/spec/nodeSelector/{escaped}", "value": carried}
    ]
    assert f"nodeSelector {key}: {wanted} -> {carried}" in best.summary
    assert "node n-a" in best.summary
    await vetted(cluster, chain, best)


async def test_a_value_equally_far_from_two_carried_values_is_a_guess_and_says_so() -> None:
    nodes = [node("h1", labels={"disk": "hdd"}), node("s1", labels={"disk": "ssd"})]
    objects = _pending("store", "files", {"containers": [_app()], "nodeSelector": {"disk": "sdd"}})
    _, _, _, best = await _best(nodes, objects)
    assert best.patch is not None
    assert best.score < 0.7
    assert "nodes also carry" in best.summary


async def test_a_node_selector_key_typo_is_renamed_to_the_key_nodes_carry() -> None:
    nodes = [node("w1", labels={"disktype": "ssd"}), node("w2")]
    objects = _pending("db", "data", {"containers": [_app()], "nodeSelector": {"disk-type": "ssd"}})
    cluster, chain, _, best = await _best(nodes, objects)
    assert best.patch.operations == [
        {"op": "remove", "path": "/spec/template/spec/nodeSelector/disk-type"},
        {"op": "add", "path": "/spec/template/spec/nodeSelector/disktype", "value": "ssd"},
    ]
    await vetted(cluster, chain, best)


async def test_a_node_selector_key_no_node_carries_is_never_dropped_when_it_is_the_only_rule() -> None:
    nodes = [node("w1"), node("w2")]
    objects = _pending("trainer", "ml", {"containers": [_app()], "nodeSelector": {"gpu": "true"}})
    _, _, _, best = await _best(nodes, objects)
    assert best.patch is None
    assert "no label gpu" in best.no_patch_reason


# --- required node affinity --------------------------------------------------------------------------------


def _affinity(*terms: list[dict], fields: list[dict] | None = None) -> dict:
    built = [{"matchExpressions": term} for term in terms]
    if fields:
        built.append({"matchFields": fields})
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": built}}}


_TERMS = "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"


@pytest.mark.parametrize(
    ("terms", "path", "value"),
    [
        # One term, one In value with a typo.
        (
            [[{"key": "zone", "operator": "In", "values": ["zone-a1"]}]],
            f"{_TERMS}/0/matchExpressions/0/values/0",
            "zone-a",
        ),
        # Several values: the one closest to what the node carries is corrected, the others stay.
        (
            [[{"key": "zone", "operator": "In", "values": ["us-central", "zone-aa"]}]],
            f"{_TERMS}/0/matchExpressions/0/values/1",
            "zone-a",
        ),
        # Terms are ORed: the term that one correction makes match is the one changed.
        (
            [
                [{"key": "gpu", "operator": "Exists"}, {"key": "zone", "operator": "In", "values": ["far"]}],
                [{"key": "disk", "operator": "In", "values": ["ssdd"]}],
            ],
            f"{_TERMS}/1/matchExpressions/0/values/0",
            "ssd",
        ),
        # Expressions are ANDed: only the failing one changes.
        (
            [
                [
                    {"key": "disk", "operator": "In", "values": ["ssd"]},
                    {"key": "zone", "operator": "In", "values": ["zone-ax"]},
                ]
            ],
            f"{_TERMS}/0/matchExpressions/1/values/0",
            "zone-a",
        ),
        # A key typo: the key nodes carry, with a value that already holds.
        (
            [[{"key": "disk-type", "operator": "In", "values": ["ssd"]}]],
            f"{_TERMS}/0/matchExpressions/0/key",
            "disktype",
        ),
    ],
)
async def test_required_node_affinity_is_corrected_towards_the_labels_nodes_carry(terms, path, value) -> None:
    nodes = [
        node("pool-1", labels={"zone": "zone-a", "disk": "ssd", "disktype": "ssd"}),
        node("pool-2", labels={"zone": "zone-c", "disk": "hdd"}),
    ]
    objects = _pending("reports", "analytics", {"containers": [_app()], "affinity": _affinity(*terms)})
    cluster, chain, _, best = await _best(nodes, objects)
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    assert best.patch.operations == [{"op": "replace", "path": path, "value": value}]
    assert "node pool-1" in best.summary
    await vetted(cluster, chain, best)


async def test_a_node_name_typo_in_match_fields_goes_to_the_node_that_exists() -> None:
    nodes = [node("worker-east-1"), node("worker-west-1")]
    fields = [{"key": "metadata.name", "operator": "In", "values": ["worker-eastt-1"]}]
    objects = _pending("cache", "edge", {"containers": [_app()], "affinity": _affinity(fields=fields)})
    cluster, chain, _, best = await _best(nodes, objects)
    assert best.patch.operations == [
        {"op": "replace", "path": f"{_TERMS}/0/matchFields/0/values/0", "value": "worker-east-1"}
    ]
    await vetted(cluster, chain, best)


async def test_an_expression_no_node_can_meet_is_dropped_only_while_another_still_places_the_pod() -> None:
    nodes = [node("a1", labels={"zone": "zone-a"}), node("b1", labels={"zone": "zone-b"})]
    term = [{"key": "zone", "operator": "In", "values": ["zone-b"]}, {"key": "fpga", "operator": "Exists"}]
    objects = _pending("codec", "media", {"containers": [_app()], "affinity": _affinity(term)})
    cluster, chain, _, best = await _best(nodes, objects)
    assert best.patch.operations == [{"op": "remove", "path": f"{_TERMS}/0/matchExpressions/1"}]
    assert "no node carries fpga" in best.summary
    assert best.score < 0.85
    await vetted(cluster, chain, best)
    alone = _pending("codec", "media", {"containers": [_app()], "affinity": _affinity([term[1]])})
    _, _, _, best = await _best(nodes, alone)
    assert best.patch is None


@pytest.mark.parametrize(
    "expression",
    [
        {"key": "zone", "operator": "NotIn", "values": ["zone-a", "zone-b"]},
        {"key": "zone", "operator": "DoesNotExist"},
        {"key": "cpu-gen", "operator": "Gt", "values": ["7"]},
        {"key": "cpu-gen", "operator": "Lt", "values": ["2"]},
        {"key": "zone", "operator": "In", "values": []},
    ],
)
async def test_an_affinity_that_excludes_every_node_on_purpose_gets_findings_only(expression) -> None:
    nodes = [
        node("a1", labels={"zone": "zone-a", "cpu-gen": "4"}),
        node("b1", labels={"zone": "zone-b", "cpu-gen": "5"}),
    ]
    objects = _pending("batch", "jobs", {"containers": [_app()], "affinity": _affinity([expression])})
    _, _, _, best = await _best(nodes, objects)
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    assert best.patch is None
    assert best.no_patch_reason


# --- taints: only the pool the pod asks for ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "taint"),
    [
        ({"accelerator": "nvidia-l4"}, {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}),
        ({}, {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
        ({"pool": "batch"}, {"key": "workload", "value": "batch", "effect": "NoExecute"}),
        ({"team": "payments"}, {"key": "team", "effect": "NoSchedule"}),
        (
            {"node-role.kubernetes.io/control-plane": ""},
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        ),
    ],
)
async def test_a_taint_of_a_pool_the_pod_does_not_ask_for_is_never_tolerated(labels, taint) -> None:
    nodes = [node(f"tainted-{i}", labels=labels, taints=[taint]) for i in range(2)]
    objects = _pending("web", "storefront", {"containers": [_app("web")]})
    _, _, _, best = await _best(nodes, objects)
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    assert best.patch is None
    assert "capacity is missing for the pod's own pool" in best.summary
    assert taint["key"] in best.summary


async def test_a_taint_kubernetes_sets_is_never_tolerated_even_on_the_selected_pool() -> None:
    taint = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}
    nodes = [node("gpu-1", labels={"pool": "gpu"}, taints=[taint])]
    objects = _pending("infer", "ai", {"containers": [_app()], "nodeSelector": {"pool": "gpu"}})
    _, _, _, best = await _best(nodes, objects)
    assert best.patch is None
    assert "one Kubernetes sets to keep pods off" in best.summary


async def test_a_dedicated_pool_stays_closed_even_when_the_untainted_nodes_are_full() -> None:
    gpu = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    nodes = [node("gpu-1", labels={"pool": "gpu"}, taints=[gpu]), node("small-1", memory="1Gi")]
    spec = {"containers": [_app(resources={"requests": {"memory": "2Gi"}})]}
    _, _, _, found = await _found(nodes, _pending("api", "shop", spec))
    assert not any(c.patch and any("tolerations" in op["path"] for op in c.patch.operations) for c in found)
    placement = next(c for c in found if c.root_cause == RootCause.UNSATISFIABLE_SCHEDULING)
    assert "capacity is missing for the pod's own pool" in placement.summary


@pytest.mark.parametrize(
    ("selector", "taint", "toleration"),
    [
        (
            {"pool": "gpu"},
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
        ),
        (
            {"pool": "batch"},
            {"key": "batch-only", "effect": "NoSchedule"},
            {"key": "batch-only", "operator": "Exists", "effect": "NoSchedule"},
        ),
        (
            {"pool": "edge"},
            {"key": "edge", "value": "true", "effect": "NoExecute"},
            {"key": "edge", "operator": "Equal", "value": "true", "effect": "NoExecute"},
        ),
    ],
)
async def test_a_taint_of_the_pool_the_pod_selects_is_tolerated(selector, taint, toleration) -> None:
    nodes = [node("p1", labels=selector, taints=[taint]), node("other")]
    objects = _pending("job", "compute", {"containers": [_app()], "nodeSelector": selector})
    cluster, chain, _, best = await _best(nodes, objects)
    assert best.patch.operations == [
        {"op": "add", "path": "/spec/template/spec/tolerations", "value": [toleration]}
    ]
    assert "the pod selects" in best.summary
    await vetted(cluster, chain, best)


async def test_a_toleration_value_typo_is_corrected_to_the_taints_value() -> None:
    taint = {"key": "dedicated", "value": "analytics", "effect": "NoSchedule"}
    nodes = [node("an-1", labels={"pool": "analytics"}, taints=[taint])]
    spec = {
        "containers": [_app()],
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "analytic", "effect": "NoSchedule"}
        ],
    }
    cluster, chain, _, best = await _best(nodes, _pending("etl", "warehouse", spec))
    assert best.patch.operations == [
        {"op": "replace", "path": "/spec/template/spec/tolerations/0/value", "value": "analytics"}
    ]
    await vetted(cluster, chain, best)


async def test_a_selector_typo_into_a_tainted_pool_is_fixed_with_its_toleration() -> None:
    taint = {"key": "pool", "value": "gpu", "effect": "NoSchedule"}
    nodes = [node("g1", labels={"pool": "gpu"}, taints=[taint]), node("c1", labels={"pool": "cpu"})]
    objects = _pending("infer", "ai", {"containers": [_app()], "nodeSelector": {"pool": "gpuu"}})
    cluster, chain, _, best = await _best(nodes, objects)
    assert best.patch.operations[0] == {
        "op": "replace",
        "path": "/spec/template/spec/nodeSelector/pool",
        "value": "gpu",
    }
    assert best.patch.operations[1]["path"] == "/spec/template/spec/tolerations"
    await vetted(cluster, chain, best)


# --- rules among the pod's own replicas --------------------------------------------------------------------


def _anti(key: str, labels: dict) -> dict:
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


@pytest.mark.parametrize("key", ["kubernetes.io/hostname", "topology.kubernetes.io/zone"])
async def test_anti_affinity_among_its_own_replicas_becomes_a_preference(key) -> None:
    nodes = [
        node("z1", labels={"topology.kubernetes.io/zone": "z1"}),
        node("z2", labels={"topology.kubernetes.io/zone": "z2"}),
    ]
    peers = [_running(f"quorum-{i}", "coord", f"z{i}", {"app": "quorum"}) for i in (1, 2)]
    objects = _pending("quorum", "coord", {"containers": [_app()], "affinity": _anti(key, {"app": "quorum"})})
    cluster, chain, _, best = await _best(nodes, objects, peers)
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    value = best.patch.operations[0]["value"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in value
    assert (
        value["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] == key
    )
    await vetted(cluster, chain, best)


@pytest.mark.parametrize(
    ("strategy", "offered"),
    [
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}, True),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}}, True),
        ({"type": "Recreate"}, True),
        ({}, False),  # 25% of 4 is 1, and the Pending replica already takes it: no old pod goes first
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}, False),
    ],
)
async def test_replicas_that_all_exclude_each_other_are_relaxed_only_where_the_rollout_can_proceed(
    strategy, offered
) -> None:
    nodes = [node(f"w{i}") for i in (1, 2, 3)]
    affinity = _anti("kubernetes.io/hostname", {"app": "quorum"})
    peers = [_running(f"quorum-{i}", "coord", f"w{i}", {"app": "quorum"}) for i in (1, 2, 3)]
    for peer in peers:  # the running replicas carry the same required anti-affinity
        peer["spec"]["affinity"] = affinity
    objects = _pending("quorum", "coord", {"containers": [_app()], "affinity": affinity})
    objects[0]["spec"] |= {"replicas": 4, "strategy": strategy}
    objects[0]["status"] = {"replicas": 4, "availableReplicas": 3}
    cluster, chain, evidence, best = await _best(nodes, objects, peers)
    assert all("existingAntiAffinity" in fit.filters for fit in evidence.fits)
    if offered:
        assert best.patch.operations[0]["path"] == "/spec/template/spec/affinity/podAntiAffinity"
        await vetted(cluster, chain, best)
    else:
        assert best.patch is None
        assert "the rollout would stall" in best.no_patch_reason


async def test_another_workloads_anti_affinity_is_not_relaxed_from_this_pod() -> None:
    nodes = [node("n1")]
    guard = _running("guard-1", "shop", "n1", {"app": "guard"})
    guard["spec"]["affinity"] = _anti("kubernetes.io/hostname", {"app": "batch"})
    _, _, _, best = await _best(nodes, _pending("batch", "shop", {"containers": [_app()]}), [guard])
    assert best.patch is None
    assert "another workload's pod anti-affinity" in best.no_patch_reason


async def test_anti_affinity_against_another_workload_is_not_relaxed() -> None:
    nodes = [node("n1"), node("n2")]
    peers = [_running(f"db-{i}", "shop", f"n{i}", {"app": "db"}) for i in (1, 2)]
    objects = _pending(
        "batch", "shop", {"containers": [_app()], "affinity": _anti("kubernetes.io/hostname", {"app": "db"})}
    )
    _, _, _, best = await _best(nodes, objects, peers)
    assert best.patch is None
    assert "other workloads' pods" in best.no_patch_reason


_SPREAD_POLICY = Remediation(
    allowed_paths=[*DEFAULT_ALLOWED_PATHS, "/spec/template/spec/topologySpreadConstraints"]
)


async def test_topology_spread_on_a_key_no_node_carries_takes_the_closest_key() -> None:
    nodes = [node(f"n{i}", labels={"topology.kubernetes.io/zone": f"z{i}"}) for i in (1, 2)]
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zones",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "api"}},
        }
    ]
    objects = _pending("api", "shop", {"containers": [_app()], "topologySpreadConstraints": spread})
    cluster, chain, _, best = await _best(nodes, objects)
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/topologySpreadConstraints/0/topologyKey",
            "value": "topology.kubernetes.io/zone",
        }
    ]
    await vet_patch(cluster, chain, best.patch.target, best.patch.operations, _SPREAD_POLICY)


async def test_topology_spread_skew_among_its_own_replicas_becomes_schedule_anyway() -> None:
    nodes = [
        node("a1", labels={"topology.kubernetes.io/zone": "a"}),
        node(
            "b1",
            labels={"topology.kubernetes.io/zone": "b"},
            taints=[{"key": "x", "value": "y", "effect": "NoSchedule"}],
        ),
    ]
    peers = [_running("api-old", "shop", "a1", {"app": "api"})]
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "labelSelector": {"matchLabels": {"app": "api"}},
        }
    ]
    objects = _pending(
        "api", "shop", {"containers": [_app()], "topologySpreadConstraints": spread}, labels={"app": "api"}
    )
    # Make zone b count as a domain with zero pods: its node is tainted, but taints do not shrink domains.
    cluster, chain, evidence, best = await _best(nodes, objects, peers)
    assert any("topology spread" in r for fit in evidence.fits for r in fit.reasons)
    assert best.patch.operations == [
        {
            "op": "add",
            "path": "/spec/template/spec/topologySpreadConstraints/0/whenUnsatisfiable",
            "value": "ScheduleAnyway",
        }
    ]
    await vet_patch(cluster, chain, best.patch.target, best.patch.operations, _SPREAD_POLICY)


# --- claims ------------------------------------------------------------------------------------------------


def _claim(name: str, namespace: str, class_name: str | None, size: str = "5Gi") -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if class_name is not None:
        spec["storageClassName"] = class_name
    return {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": {"phase": "Pending"},
    }


def _class(
    name: str, *, default: bool = False, provisioner: str = "ebs.csi.aws.com", mode: str = "Immediate"
) -> dict:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": provisioner,
        "volumeBindingMode": mode,
    }


def _volume(name: str, class_name: str, size: str, claim: str | None = None) -> dict:
    spec: dict = {
        "storageClassName": class_name,
        "capacity": {"storage": size},
        "accessModes": ["ReadWriteOnce"],
    }
    if claim:
        spec["claimRef"] = {"name": claim, "namespace": "other"}
    return {"kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def _mounting(claim: str, namespace: str) -> list[dict]:
    spec = {
        "containers": [_app()],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
    }
    return _pending("db", namespace, spec)


@pytest.mark.parametrize(
    ("storage", "claim_class", "said"),
    [
        (
            [_class("gp3", default=True)],
            "fast-ssd",
            "recreate the claim with storageClassName gp3, the cluster's default class",
        ),
        ([_class("standard", default=True), _class("premium")], "premum", "storageClassName standard"),
        ([_class("gp3"), _class("io2")], "fast", "none is default"),
        (
            [_class("local", provisioner="kubernetes.io/no-provisioner")],
            "local",
            "no PersistentVolume of class local",
        ),
        (
            [
                _class("manual", provisioner="kubernetes.io/no-provisioner"),
                _volume("pv-small", "manual", "1Gi"),
                _volume("pv-taken", "manual", "50Gi", claim="someone-else"),
            ],
            "manual",
            "pv-small holds 1Gi",
        ),
        ([_volume("pv-1", "other", "10Gi")], "", "no PersistentVolume of no class"),
    ],
)
async def test_an_unbound_claim_says_what_is_missing_and_patches_nothing(storage, claim_class, said) -> None:
    objects = _mounting("data-claim", "reporting")
    nodes = [node("w1"), node("w2")]
    _, _, _, best = await _best(nodes, objects, [_claim("data-claim", "reporting", claim_class), *storage])
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    assert best.patch is None
    assert "PersistentVolumeClaim data-claim is Pending" in best.summary
    assert said in best.summary


async def test_a_claim_waiting_for_its_first_consumer_is_not_the_cause() -> None:
    objects = _mounting("scratch", "ci")
    extra = [_claim("scratch", "ci", "wffc"), _class("wffc", mode="WaitForFirstConsumer")]
    _, _, evidence, best = await _best([node("w1")], objects, extra)
    assert any(fit.fits for fit in evidence.fits)
    assert "scratch" not in best.summary


async def test_a_missing_claim_is_named() -> None:
    _, _, _, best = await _best([node("w1")], _mounting("gone", "ci"))
    assert "PersistentVolumeClaim gone is missing: it does not exist" in best.summary


# --- host ports: findings naming the port and the pod that holds it -----------------------------------------


def _listening(port: int, **fields) -> dict:
    """A container asking for `port` on the node (hostPort), with the port's other fields."""
    return _app("kiosk", ports=[{"containerPort": 443, "hostPort": port, **fields}])


def _holder(name: str, namespace: str, node_name: str, container: dict, **spec) -> dict:
    pod = _running(name, namespace, node_name, {"app": name})
    pod["spec"] |= {"containers": [container], **spec}
    return pod


def _replica_of(pending: dict, name: str, node_name: str, **labels: str) -> dict:
    """Another pod of the Pending pod's ReplicaSet (or, with other labels, of an earlier one) running there."""
    replica = {**pending, "metadata": {**pending["metadata"], "name": name, "uid": f"uid-{name}"}}
    replica["metadata"]["labels"] = {**pending["metadata"]["labels"], **labels}
    replica["spec"] = {**pending["spec"], "nodeName": node_name}
    replica["status"] = {"phase": "Running"}
    return replica


async def test_a_hostport_its_own_replica_holds_on_the_only_node_is_named_with_the_holder() -> None:
    objects = _pending("kiosk-api", "tills", {"containers": [_listening(9443)]})
    replica = _replica_of(objects[-1], "kiosk-api-7d4b9-q8d2m", "till-node-1")
    said = "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
    event = pod_event(objects[-1], "FailedScheduling", said)
    _, _, evidence, found = await _found([node("till-node-1")], objects, [replica, event])
    (fit,) = evidence.fits
    assert fit.reasons == [
        "hostPort 9443/TCP of container kiosk is held by pod kiosk-api-7d4b9-q8d2m (container kiosk)"
    ]
    best = found[0]
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    assert best.score == 0.9
    assert "container kiosk asks for hostPort 9443/TCP" in best.summary
    assert "its own replica kiosk-api-7d4b9-q8d2m holds it on node till-node-1" in best.summary
    assert "Deployment/kiosk-api runs at most one replica per node" in best.summary
    assert best.patch is None
    assert best.names_culprit
    assert "hostPort 9443/TCP is how clients reach the app" in best.no_patch_reason
    assert said in best.facts


async def test_the_earlier_revision_s_pod_holding_the_port_is_told_apart_from_a_replica() -> None:
    objects = _pending("kiosk-api", "tills", {"containers": [_listening(9443)]})
    pending = objects[-1]["metadata"]
    pending["labels"] = {**pending["labels"], "pod-template-hash": "b2"}
    old = _replica_of(objects[-1], "kiosk-api-5c6f1-zz81k", "till-node-1", **{"pod-template-hash": "a1"})
    old["metadata"]["ownerReferences"] = [
        {"kind": "ReplicaSet", "name": "kiosk-api-5c6f1", "uid": "uid-rs-old", "controller": True}
    ]
    _, _, _, found = await _found([node("till-node-1")], objects, [old])
    assert "the earlier revision's pod kiosk-api-5c6f1-zz81k still holds it" in found[0].summary
    assert "maxSurge 0 and maxUnavailable 1" in found[0].summary
    assert found[0].patch is None


async def test_another_workload_holding_the_port_is_named_with_its_namespace() -> None:
    nodes = [node("w1"), node("w2")]
    exporters = [
        _holder(
            f"probe-agent-{n}",
            "monitoring",
            n,
            _app("agent", ports=[{"containerPort": 9100, "hostPort": 9100}]),
        )
        for n in ("w1", "w2")
    ]
    objects = _pending(
        "metrics-relay",
        "ops",
        {"containers": [_app("relay", ports=[{"containerPort": 80, "hostPort": 9100}])]},
    )
    _, _, _, found = await _found(nodes, objects, exporters)
    best = found[0]
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    assert (
        "pod monitoring/probe-agent-w1, monitoring/probe-agent-w2 of another workload holds it"
        in best.summary
    )
    assert "nodes w1, w2" in best.summary
    assert best.patch is None


async def test_a_placement_fix_is_not_offered_towards_a_node_whose_port_is_taken() -> None:
    # Without the port, "zone: eu-1x -> eu-1a" would be the fix; eu-1a's only node holds the port, and the
    # other zone's node is cordoned.
    cordoned = node("b1", labels={"zone": "eu-1b"})
    cordoned["spec"]["unschedulable"] = True
    nodes = [node("a1", labels={"zone": "eu-1a"}), cordoned]
    holder = _holder("gateway", "edge", "a1", _app("gw", ports=[{"containerPort": 8443, "hostPort": 8443}]))
    spec = {
        "containers": [_app("gw", ports=[{"containerPort": 8443, "hostPort": 8443}])],
        "nodeSelector": {"zone": "eu-1x"},
    }
    _, _, evidence, found = await _found(nodes, _pending("ingress", "edge", spec), [holder])
    assert {"nodeSelector", "hostPort"} <= next(f for f in evidence.fits if f.node == "a1").filters
    assert all(candidate.patch is None for candidate in found)
    assert any("hostPort 8443/TCP" in candidate.summary for candidate in found)


def _asking(*containers: dict, init: list[dict] | None = None, **spec) -> dict:
    return {
        "metadata": {"name": "new", "namespace": "lab", "labels": {"app": "new"}},
        "spec": {"containers": list(containers), "initContainers": init or [], **spec},
    }


def _port(number: int, **fields) -> dict:
    return {"name": "p", "image": "x:1", "ports": [{"containerPort": number, "hostPort": number, **fields}]}


@pytest.mark.parametrize(
    ("wanted", "held", "clash"),
    [
        pytest.param(_asking(_port(53, protocol="UDP")), _port(53), False, id="other-protocol"),
        pytest.param(_asking(_port(53, protocol="UDP")), _port(53, protocol="UDP"), True, id="same-protocol"),
        pytest.param(_asking(_port(7000, hostIP="10.1.0.5")), _port(7000, hostIP="10.1.0.6"), False, id="other-address"),
        pytest.param(_asking(_port(7000, hostIP="10.1.0.5")), _port(7000), True, id="held-on-every-address"),
        pytest.param(_asking(_port(7000)), _port(7000, hostIP="10.1.0.6"), True, id="asked-on-every-address"),
        pytest.param(_asking(_port(7000)), _port(7001), False, id="other-port"),
        pytest.param(
            _asking(_app("main"), init=[{**_port(7000), "restartPolicy": "Always"}]), _port(7000), True, id="sidecar"
        ),
        pytest.param(_asking(_app("main"), init=[_port(7000)]), _port(7000), False, id="init-container-finishes"),
        pytest.param(
            _asking({"name": "p", "image": "x:1", "ports": [{"containerPort": 7000}]}, hostNetwork=True),
            _port(7000), True, id="host-network",
        ),
    ],
)  # fmt: skip
def test_the_host_port_filter_follows_the_schedulers_conflict_rules(wanted, held, clash) -> None:
    holder = _holder("old", "lab", "n1", held)
    fits = Placement([node("n1")], {"n1": [holder]}).fits(wanted)
    assert ("hostPort" in fits[0].filters) is clash


def test_a_finished_pod_holds_no_port() -> None:
    holder = _holder("done", "lab", "n1", _port(7000))
    holder["status"]["phase"] = "Succeeded"
    (fit,) = Placement([node("n1")], {"n1": [holder]}).fits(_asking(_port(7000)))
    assert fit.fits
