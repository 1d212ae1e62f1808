"""Evidence → candidates: the seed's two failures and the other families, each with a fact-based fix."""

from __future__ import annotations

import copy

from smart_sre.api.common import RootCause, Trigger
from smart_sre.api.debugpolicy import Remediation
from smart_sre.investigation.analyzers import candidates
from smart_sre.investigation.evidence import gather, learn_secret_values
from smart_sre.investigation.patch_safety import vet_patch
from smart_sre.investigation.redaction import Redactor
from smart_sre.investigation.tools.base import ToolContext
from smart_sre.k8s.owners import owner_chain

from .fakes import FakeCluster
from .scenarios import NODES, NS, SECRET_VALUE, event, pending_pod_cluster, redis_client_cluster, workload


async def _evidence(objects, pod, trigger, logs=None):
    cluster = FakeCluster(objects, logs or {})
    ctx = ToolContext(cluster, NS, pod, Redactor())
    await learn_secret_values(cluster, pod, ctx.redactor)
    chain = await owner_chain(cluster, pod)
    return cluster, chain, await gather(ctx, chain, trigger)


async def test_pod_bigger_than_any_node_gets_a_request_that_fits() -> None:
    objects, pod = pending_pod_cluster()
    cluster, chain, evidence = await _evidence(objects, pod, Trigger.PENDING)
    assert "0/3 nodes can take the pod" in evidence.observation
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.INSUFFICIENT_RESOURCES
    assert best.patch.target == "Deployment/analytics"
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/resources/requests/memory",
            "value": "8192Mi",
        }
    ]
    await vet_patch(cluster, chain, best.patch.target, best.patch.operations, Remediation())


async def test_connection_refused_to_redis_points_at_the_service_that_exists() -> None:
    objects, pod, logs = redis_client_cluster()
    cluster, chain, evidence = await _evidence(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, logs)
    assert "Connection refused to redis:6379" in evidence.observation
    assert "Service redis does not exist" in evidence.observation
    assert SECRET_VALUE not in evidence.observation
    assert "hunter2hunter2" not in evidence.observation
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.BAD_CONFIG_VALUE
    assert best.patch.operations == [
        {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "redis-master"}
    ]
    await vet_patch(cluster, chain, best.patch.target, best.patch.operations, Remediation())


async def test_a_dependency_without_ready_endpoints_is_not_patched() -> None:
    objects, pod, logs = redis_client_cluster()
    for obj in objects:
        if obj["kind"] == "Pod":
            obj["spec"]["containers"][0]["env"][0]["value"] = "redis-master"
        if obj["kind"] == "Endpoints":
            obj["subsets"] = []
    _, _, evidence = await _evidence(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, logs)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.DEPENDENCY_UNAVAILABLE
    assert best.patch is None
    assert "redis-master" in best.no_patch_reason


async def test_a_python_client_timing_out_is_read_as_a_dependency_failure() -> None:
    objects, pod, logs = redis_client_cluster()
    key = (pod["metadata"]["name"], "app", True)
    logs[key] = "redis.exceptions.ConnectionError: Timeout connecting to redis:6379."
    _, _, evidence = await _evidence(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, logs)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.BAD_CONFIG_VALUE
    assert best.patch.operations[0]["value"] == "redis-master"


async def test_an_unbound_claim_blocks_a_pod_that_a_node_could_take() -> None:
    objects, pod = pending_pod_cluster()
    pod["spec"]["containers"][0]["resources"]["requests"]["memory"] = "1Gi"  # every node fits it
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    message = "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    pod["status"]["conditions"][0]["message"] = message
    claim = {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": NS},
        "spec": {"storageClassName": "fast-ssd", "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"},
    }
    objects = [o for o in objects if o["kind"] != "Event"] + [claim, event(pod, "FailedScheduling", message)]
    _, _, evidence = await _evidence(objects, pod, Trigger.PENDING)
    assert any(fit.fits for fit in evidence.fits)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    assert "PersistentVolumeClaim data is Pending" in best.summary
    assert best.patch is None


def _crashing(name: str, spec: dict, status: dict, logs: str, *extra: dict):
    deployment, replicaset, pod = workload(name, spec, phase="Running", status=status, node_name="worker-1")
    return [*NODES, deployment, replicaset, pod, *extra], pod, {(pod["metadata"]["name"], "app", True): logs}


def _status(reason: str = "CrashLoopBackOff", last: dict | None = None, message: str = "") -> dict:
    return {
        "containerStatuses": [
            {
                "name": "app",
                "ready": False,
                "restartCount": 3,
                "state": {"waiting": {"reason": reason, "message": message}},
                "lastState": {"terminated": last} if last else {},
            }
        ]
    }


async def test_oom_killed_raises_the_limit_to_what_the_app_allocates() -> None:
    spec = {
        "containers": [
            {"name": "app", "image": "sandbox/memory-hog:1.0", "resources": {"limits": {"memory": "128Mi"}}}
        ]
    }
    objects, pod, logs = _crashing(
        "hog", spec, _status(last={"reason": "OOMKilled", "exitCode": 137}), "allocating 512 MiB"
    )
    _, _, evidence = await _evidence(objects, pod, Trigger.OOM_KILLED, logs)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.OOM_KILLED
    assert best.patch.operations[0]["value"] == "768Mi"


async def test_bad_image_tag_goes_back_to_the_tag_an_earlier_revision_ran() -> None:
    spec = {"containers": [{"name": "app", "image": "sandbox/web:9.9"}]}
    objects, pod, logs = _crashing(
        "web", spec, _status("ImagePullBackOff", message='Back-off pulling image "sandbox/web:9.9"'), ""
    )
    old = copy.deepcopy(next(o for o in objects if o["kind"] == "ReplicaSet"))
    old["metadata"] |= {
        "name": "web-old",
        "uid": "uid-rs-old",
        "annotations": {"deployment.kubernetes.io/revision": "1"},
    }
    old["spec"]["template"]["spec"]["containers"][0]["image"] = "sandbox/web:1.1"
    _, _, evidence = await _evidence([*objects, old], pod, Trigger.IMAGE_PULL_BACK_OFF, logs)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.IMAGE_PULL
    assert best.patch.operations == [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "sandbox/web:1.1"}
    ]


async def test_missing_configmap_key_uses_the_key_that_exists() -> None:
    spec = {
        "containers": [
            {
                "name": "app",
                "image": "sandbox/web:1.0",
                "env": [
                    {
                        "name": "LOG_LEVEL",
                        "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "log-level"}},
                    }
                ],
            }
        ]
    }
    configmap = {
        "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": NS},
        "data": {"log_level": "info"},
    }
    status = _status(
        "CreateContainerConfigError", message=f"couldn't find key log-level in ConfigMap {NS}/web-config"
    )
    objects, pod, logs = _crashing("web", spec, status, "", configmap)
    _, _, evidence = await _evidence(objects, pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR, logs)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.MISSING_CONFIG
    assert best.patch.operations[0]["value"] == "log_level"


async def test_rejected_flag_is_removed_from_args() -> None:
    spec = {"containers": [{"name": "app", "image": "sandbox/web:1.0", "args": ["-port=8080", "-verbose"]}]}
    status = _status(last={"reason": "Error", "exitCode": 2})
    objects, pod, logs = _crashing(
        "web", spec, status, "flag provided but not defined: -verbose\nUsage of app:"
    )
    _, _, evidence = await _evidence(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, logs)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.APPLICATION_ERROR
    assert best.patch.operations[0]["value"] == ["-port=8080"]


async def test_probe_on_the_wrong_port_is_aimed_at_the_listening_port() -> None:
    probe = {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 5}
    spec = {"containers": [{"name": "app", "image": "sandbox/web:1.0", "livenessProbe": probe}]}
    status = _status(last={"reason": "Error", "exitCode": 137})
    objects, pod, logs = _crashing("web", spec, status, 'level=info msg="http server listening" addr=:8080')
    unhealthy = event(
        pod, "Unhealthy", "Liveness probe failed: Get http://10.1.0.9:80/healthz: connection refused"
    )
    _, _, evidence = await _evidence([*objects, unhealthy], pod, Trigger.CRASH_LOOP_BACK_OFF, logs)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.PROBE_FAILURE
    assert best.patch.operations[0] == {
        "op": "replace",
        "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/port",
        "value": 8080,
    }


async def test_untolerated_taint_of_the_pool_the_pod_selects_adds_a_toleration() -> None:
    taint = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    nodes = [{**n, "spec": {"taints": taint}} for n in NODES]
    nodes[0] = {**nodes[0], "metadata": {**nodes[0]["metadata"], "labels": {"pool": "gpu"}}}
    spec = {"containers": [{"name": "app", "image": "sandbox/web:1.0"}], "nodeSelector": {"pool": "gpu"}}
    deployment, replicaset, pod = workload("web", spec, phase="Pending")
    _, _, evidence = await _evidence([*nodes, deployment, replicaset, pod], pod, Trigger.PENDING)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    assert best.patch.operations[0]["value"] == [
        {"key": "dedicated", "effect": "NoSchedule", "operator": "Equal", "value": "gpu"}
    ]


async def test_node_selector_matching_no_node_takes_the_value_the_nodes_carry() -> None:
    spec = {"containers": [{"name": "app", "image": "sandbox/web:1.0"}], "nodeSelector": {"disktype": "nvme"}}
    deployment, replicaset, pod = workload("web", spec, phase="Pending")
    _, _, evidence = await _evidence([*NODES, deployment, replicaset, pod], pod, Trigger.PENDING)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.UNSATISFIABLE_SCHEDULING
    assert best.patch.operations == [
        {"op": "replace", "path": "/spec/template/spec/nodeSelector/disktype", "value": "ssd"}
    ]


async def test_missing_env_var_is_taken_from_a_configmap_key_of_that_name() -> None:
    spec = {
        "containers": [
            {"name": "app", "image": "sandbox/payments:1.0", "env": [{"name": "PORT", "value": "8080"}]}
        ]
    }
    configmap = {
        "kind": "ConfigMap",
        "metadata": {"name": "payments-env", "namespace": NS},
        "data": {"DATABASE_URL": "postgres://db:5432/pay"},
    }
    status = _status(last={"reason": "Error", "exitCode": 1})
    objects, pod, logs = _crashing(
        "payments", spec, status, "Traceback (most recent call last):\nKeyError: 'DATABASE_URL'", configmap
    )
    _, _, evidence = await _evidence(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, logs)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.MISSING_CONFIG
    assert best.patch.operations == [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/env/-",
            "value": {
                "name": "DATABASE_URL",
                "valueFrom": {"configMapKeyRef": {"name": "payments-env", "key": "DATABASE_URL"}},
            },
        }
    ]


async def test_misspelled_image_goes_to_the_closely_named_image_running_elsewhere() -> None:
    spec = {"containers": [{"name": "app", "image": "ngnix:1.27"}]}
    objects, pod, logs = _crashing(
        "web", spec, _status("ImagePullBackOff", message='Back-off pulling image "ngnix:1.27"'), ""
    )
    other = copy.deepcopy(pod)
    other["metadata"] |= {"name": "frontend-1", "namespace": "web", "uid": "uid-other", "ownerReferences": []}
    other["status"] = {
        "phase": "Running",
        "containerStatuses": [{"name": "app", "image": "nginx:1.27", "ready": True}],
    }
    _, _, evidence = await _evidence([*objects, other], pod, Trigger.IMAGE_PULL_BACK_OFF, logs)
    best = candidates(evidence)[0]
    assert best.root_cause == RootCause.IMAGE_PULL
    assert best.patch.operations[0]["value"] == "nginx:1.27"
