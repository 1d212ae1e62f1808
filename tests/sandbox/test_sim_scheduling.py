"""The scheduler's decisions and its FailedScheduling wording, as pure functions over objects."""

from __future__ import annotations

import itertools

from smart_sre_sandbox.sim.nodes import DEFAULT_NODES, NodeSpec, node_object
from smart_sre_sandbox.sim.scheduling import Placement, schedule

_uids = itertools.count()


def nodes(*specs: NodeSpec) -> list[dict]:
    return [node_object(spec, i, "2026-01-01T00:00:00Z") for i, spec in enumerate(specs or DEFAULT_NODES)]


def pod(
    name: str = "web", *, requests: dict | None = None, labels: dict | None = None, **spec: object
) -> dict:
    container: dict = {"name": "app", "image": "nginx:1.27"}
    if requests:
        container["resources"] = {"requests": requests}
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{next(_uids)}",
            "labels": labels or {},
        },
        "spec": {"containers": [container], **spec},
        "status": {"phase": "Pending"},
    }


def bound(p: dict, node: str) -> dict:
    p["spec"]["nodeName"] = node
    p["status"]["phase"] = "Running"
    return p


def test_memory_request_larger_than_every_node_is_reported_like_kube_scheduler() -> None:
    decision = schedule(pod(requests={"memory": "16Gi"}), Placement(nodes(), []), {})
    assert decision.node is None
    assert decision.message == (
        "0/3 nodes are available: 3 Insufficient memory. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )


def test_requests_count_pods_already_bound_and_the_largest_init_container() -> None:
    cluster = nodes(NodeSpec(name="only", cpu="2", memory="4Gi"))
    busy = bound(pod("busy", requests={"cpu": "1500m"}), "only")
    fits = pod(requests={"cpu": "300m"})
    assert schedule(fits, Placement(cluster, [busy]), {}).node == "only"
    greedy_init = pod(requests={"cpu": "100m"})
    greedy_init["spec"]["initContainers"] = [
        {"name": "migrate", "image": "busybox:1.36", "resources": {"requests": {"cpu": "1"}}}
    ]
    decision = schedule(greedy_init, Placement(cluster, [busy]), {})
    assert decision.message.startswith("0/1 nodes are available: 1 Insufficient cpu.")


def test_mixed_reasons_are_counted_and_sorted_and_unresolvable_ones_are_not_preemptible() -> None:
    cluster = nodes(
        NodeSpec(name="a", cpu="1", memory="4Gi", labels={"disktype": "ssd"}),
        NodeSpec(
            name="b",
            labels={"disktype": "ssd"},
            taints=[{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
        ),
        NodeSpec(name="c"),
    )
    decision = schedule(
        pod(requests={"cpu": "2"}, nodeSelector={"disktype": "ssd"}), Placement(cluster, []), {}
    )
    assert decision.message == (
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {dedicated: batch}. preemption: 0/3 nodes are available: "
        "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    )


def test_tolerations_and_node_affinity_operators_select_the_matching_node() -> None:
    cluster = nodes(
        NodeSpec(name="old", labels={"generation": "3"}),
        NodeSpec(
            name="new",
            labels={"generation": "5"},
            taints=[{"key": "gpu", "value": "true", "effect": "NoExecute"}],
        ),
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "generation", "operator": "Gt", "values": ["4"]},
                            {"key": "zone", "operator": "DoesNotExist"},
                        ]
                    }
                ]
            }
        }
    }
    untolerated = schedule(pod(affinity=affinity), Placement(cluster, []), {})
    assert "1 node(s) had untolerated taint {gpu: true}" in untolerated.message
    assert "1 node(s) didn't match Pod's node affinity/selector" in untolerated.message
    tolerated = pod(affinity=affinity, tolerations=[{"key": "gpu", "operator": "Exists"}])
    assert schedule(tolerated, Placement(cluster, []), {}).node == "new"


def test_required_anti_affinity_by_hostname_allows_one_replica_per_node() -> None:
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }
    cluster = nodes()
    placed = [
        bound(pod(f"db-{i}", labels={"app": "db"}, affinity=anti), f"sandbox-worker-{i + 1}")
        for i in range(3)
    ]
    decision = schedule(pod("db-3", labels={"app": "db"}, affinity=anti), Placement(cluster, placed), {})
    assert decision.message == (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )
    assert (
        schedule(pod("db-3", labels={"app": "db"}, affinity=anti), Placement(cluster, placed[:2]), {}).node
        == "sandbox-worker-3"
    )


def test_claims_must_exist_and_be_bound_before_any_node_is_considered() -> None:
    with_claim = pod(volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])
    missing = schedule(with_claim, Placement(nodes(), []), {})
    assert missing.message.startswith('0/3 nodes are available: persistentvolumeclaim "data" not found.')
    pending = {"data": {"metadata": {"name": "data"}, "status": {"phase": "Pending"}}}
    assert schedule(with_claim, Placement(nodes(), []), pending).message == (
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    bound_claim = {"data": {"metadata": {"name": "data"}, "status": {"phase": "Bound"}}}
    assert schedule(with_claim, Placement(nodes(), []), bound_claim).node is not None


def test_pods_spread_to_the_least_allocated_node() -> None:
    cluster = nodes()
    first = bound(pod("a", requests={"cpu": "1", "memory": "1Gi"}), "sandbox-worker-1")
    assert (
        schedule(pod(requests={"cpu": "1", "memory": "1Gi"}), Placement(cluster, [first]), {}).node
        != "sandbox-worker-1"
    )


def test_a_pod_bound_during_a_pass_counts_for_the_next_decisions_of_that_pass() -> None:
    placement = Placement(nodes(NodeSpec(name="only", cpu="2", memory="4Gi")), [])
    first = pod("first", requests={"cpu": "1500m"})
    assert schedule(first, placement, {}).node == "only"
    placement.add(first, "only")
    second = schedule(pod("second", requests={"cpu": "1"}), placement, {})
    assert second.message.startswith("0/1 nodes are available: 1 Insufficient cpu.")
    assert placement.signature() != Placement(list(placement.nodes.values()), []).signature()
