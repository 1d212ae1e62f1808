"""Controllers on a fast clock: rollouts that fix (or fail to fix) a workload, ReplicaSets, StatefulSets, volumes."""

from __future__ import annotations

from smart_sre_harness.testing import RunningSandbox


def pods(sandbox: RunningSandbox, selector: str) -> list[dict]:
    return sandbox.list("pods", "default", selector)


def is_ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def restarts(pod: dict) -> int:
    return sum(s["restartCount"] for s in (pod.get("status") or {}).get("containerStatuses") or [])


def set_env(value: str) -> dict:
    return {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "env": [{"name": "REDIS_HOST", "value": value}]}]}
            }
        }
    }


def crash_looping(sandbox: RunningSandbox) -> dict:
    sandbox.apply("seed-crashloop")
    return sandbox.wait_for(
        lambda: next((p for p in pods(sandbox, "component=checkout") if restarts(p) >= 2), None), timeout=20
    )


def test_fixing_redis_host_rolls_out_a_healthy_pod_and_retires_the_broken_one(
    sandbox: RunningSandbox,
) -> None:
    broken = crash_looping(sandbox)
    sandbox.patch("deployments", "default", "checkout", set_env("redis-master"))
    healthy = sandbox.wait_for(
        lambda: (
            [p for p in pods(sandbox, "component=checkout") if is_ready(p)]
            == (current := pods(sandbox, "component=checkout"))
            and len(current) == 1
            and current
        ),
        timeout=20,
    )
    assert healthy[0]["metadata"]["name"] != broken["metadata"]["name"]
    assert restarts(healthy[0]) == 0
    status = sandbox.wait_for(
        lambda: (
            (s := sandbox.get("deployments", "default", "checkout")["status"])
            and any(c["reason"] == "NewReplicaSetAvailable" for c in s.get("conditions") or [])
            and s
        )
    )
    assert (status["availableReplicas"], status["updatedReplicas"], status["replicas"]) == (1, 1, 1)
    assert status["observedGeneration"] == 2
    replica_sets = {
        rs["metadata"]["name"]: rs["spec"]["replicas"]
        for rs in sandbox.list("replicasets", "default", "component=checkout")
    }
    assert sorted(replica_sets.values()) == [0, 1]
    assert any(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        for rs in sandbox.list("replicasets", "default", "component=checkout")
        if rs["spec"]["replicas"] == 1
    )


def test_a_wrong_fix_keeps_crashing_and_the_old_pod_stays(sandbox: RunningSandbox) -> None:
    crash_looping(sandbox)
    sandbox.patch("deployments", "default", "checkout", set_env("redis-mastr"))
    both = sandbox.wait_for(
        lambda: (
            (ps := pods(sandbox, "component=checkout"))
            and len(ps) == 2
            and all(restarts(p) >= 2 for p in ps)
            and ps
        ),
        timeout=20,
    )
    assert not any(is_ready(p) for p in both)
    status = sandbox.get("deployments", "default", "checkout")["status"]
    assert status.get("availableReplicas", 0) == 0
    assert next(c for c in status["conditions"] if c["type"] == "Available")["status"] == "False"


def test_lowering_the_memory_request_schedules_the_pending_pod(sandbox: RunningSandbox) -> None:
    sandbox.apply("seed-pending")
    pending = sandbox.wait_for(
        lambda: [
            p
            for p in pods(sandbox, "component=reports")
            if any(c.get("reason") == "Unschedulable" for c in p["status"].get("conditions") or [])
        ]
    )
    assert pending[0]["status"]["phase"] == "Pending"
    resources = {"requests": {"memory": "512Mi"}, "limits": {"memory": "1Gi"}}
    sandbox.patch(
        "deployments",
        "default",
        "report-generator",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "resources": resources}]}}}},
    )
    running = sandbox.wait_for(
        lambda: [p for p in pods(sandbox, "component=reports") if is_ready(p)], timeout=20
    )
    assert running[0]["spec"]["nodeName"].startswith("sandbox-worker-")
    sandbox.wait_for(lambda: len(pods(sandbox, "component=reports")) == 1)


def test_replica_set_replaces_deleted_pods_and_scales_down(sandbox: RunningSandbox) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    sandbox.apply([deployment])
    first = sandbox.wait_for(
        lambda: (ps := pods(sandbox, "app=web")) and len(ps) == 3 and all(map(is_ready, ps)) and ps
    )
    assert len({p["spec"]["nodeName"] for p in first}) == 3  # spread over the nodes
    victim = first[0]["metadata"]["name"]
    sandbox.run(sandbox.store.delete(sandbox.store.resource("pods"), "default", victim))
    sandbox.wait_for(
        lambda: (
            (names := [p["metadata"]["name"] for p in pods(sandbox, "app=web")])
            and len(names) == 3
            and victim not in names
        )
    )
    sandbox.patch("deployments", "default", "web", {"spec": {"replicas": 1}})
    sandbox.wait_for(lambda: len(pods(sandbox, "app=web")) == 1)


def test_stateful_set_creates_ordered_pods_with_bound_claims(sandbox: RunningSandbox) -> None:
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "volumeClaimTemplates": [claim],
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {
                    "containers": [
                        {
                            "name": "postgres",
                            "image": "postgres:16",
                            "env": [{"name": "POSTGRES_PASSWORD", "value": "pw"}],
                        }
                    ]
                },
            },
        },
    }
    sandbox.apply([sts])
    ready = sandbox.wait_for(
        lambda: (ps := pods(sandbox, "app=db")) and len(ps) == 2 and all(map(is_ready, ps)) and ps, timeout=20
    )
    assert sorted(p["metadata"]["name"] for p in ready) == ["db-0", "db-1"]
    claims = sandbox.list("persistentvolumeclaims", "default")
    assert {(c["metadata"]["name"], c["status"]["phase"]) for c in claims} == {
        ("data-db-0", "Bound"),
        ("data-db-1", "Bound"),
    }


def test_claim_of_an_unknown_storage_class_keeps_its_pod_pending(sandbox: RunningSandbox) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "uploads", "namespace": "default"},
        "spec": {
            "storageClassName": "fast-ssd",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "5Gi"}},
        },
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "uploader", "namespace": "default"},
        "spec": {
            "containers": [{"name": "app", "image": "sandbox/web:1.0"}],
            "volumes": [{"name": "uploads", "persistentVolumeClaim": {"claimName": "uploads"}}],
        },
    }
    sandbox.apply([claim, pod])
    event = sandbox.wait_for(
        lambda: [e for e in sandbox.list("events", "default") if e["reason"] == "FailedScheduling"]
    )
    assert event[0]["message"] == (
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    sandbox.wait_for(
        lambda: any(
            e["reason"] == "ProvisioningFailed"
            and e["message"] == 'storageclass.storage.k8s.io "fast-ssd" not found'
            for e in sandbox.list("events", "default")
        )
    )


def test_controllers_keep_working_after_watch_streams_are_dropped(sandbox: RunningSandbox) -> None:
    sandbox.apply("seed-crashloop")
    sandbox.wait_for(lambda: [p for p in pods(sandbox, "app=redis") if is_ready(p)])

    async def drop() -> int:
        return sandbox.store.close_watches()

    assert sandbox.run(drop()) > 0
    sandbox.patch("deployments", "default", "redis-master", {"spec": {"replicas": 2}})
    sandbox.wait_for(lambda: len([p for p in pods(sandbox, "app=redis") if is_ready(p)]) == 2)
