"""The seed's two failures as plain API objects: a pod too big for any node, and a redis client."""

from __future__ import annotations

import copy

NS = "shop"


def node(name: str, *, memory: str = "8Gi", cpu: str = "4", labels: dict | None = None, taints=None) -> dict:
    return {
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
        },
        "spec": {"taints": taints} if taints else {},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def workload(
    name: str, pod_spec: dict, *, phase: str, status: dict | None = None, node_name: str | None = None
):
    """Deployment -> ReplicaSet -> Pod, owned the way the controllers own them."""
    labels = {"app": name}
    deployment = {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-deploy-{name}", "resourceVersion": "10"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": copy.deepcopy(pod_spec)},
        },
        "status": {"replicas": 1, "readyReplicas": 0},
    }
    replicaset = {
        "kind": "ReplicaSet",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": f"{name}-7d4b9",
            "namespace": NS,
            "uid": f"uid-rs-{name}",
            "ownerReferences": [
                {"kind": "Deployment", "name": name, "uid": f"uid-deploy-{name}", "controller": True}
            ],
        },
        "spec": {
            "replicas": 1,
            "template": {"metadata": {"labels": labels}, "spec": copy.deepcopy(pod_spec)},
        },
    }
    pod_body = copy.deepcopy(pod_spec)
    if node_name:
        pod_body["nodeName"] = node_name
    pod = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": f"{name}-7d4b9-x2x9q",
            "namespace": NS,
            "uid": f"uid-pod-{name}",
            "labels": labels,
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": f"{name}-7d4b9", "uid": f"uid-rs-{name}", "controller": True}
            ],
        },
        "spec": pod_body,
        "status": {"phase": phase, **(status or {})},
    }
    return deployment, replicaset, pod


def event(obj: dict, reason: str, message: str, *, type_: str = "Warning", count: int = 1) -> dict:
    return {
        "kind": "Event",
        "metadata": {"name": f"{obj['metadata']['name']}.{reason.lower()}", "namespace": NS},
        "involvedObject": {"kind": obj["kind"], "name": obj["metadata"]["name"], "namespace": NS},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "lastTimestamp": "2026-01-05T10:00:00Z",
    }


NODES = [node("worker-1"), node("worker-2", labels={"disktype": "ssd"}), node("worker-3")]


def pending_pod_cluster() -> tuple[list[dict], dict]:
    spec = {
        "containers": [
            {
                "name": "app",
                "image": "registry.local/analytics:1.4",
                "resources": {"requests": {"memory": "16Gi", "cpu": "500m"}},
            }
        ]
    }
    status = {
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory.",
            }
        ]
    }
    deployment, replicaset, pod = workload("analytics", spec, phase="Pending", status=status)
    objects = [
        *NODES,
        deployment,
        replicaset,
        pod,
        event(pod, "FailedScheduling", "0/3 nodes are available: 3 Insufficient memory."),
    ]
    return objects, pod


REDIS_LOG = "\n".join(
    [
        "starting checkout v2.3 with password=hunter2hunter2",
        "connecting to redis:6379",
        "ERROR Connection refused to redis:6379",
        "fatal: cannot reach cache, exiting",
    ]
)
SECRET_VALUE = "s3cr3t-from-the-vault"


def redis_client_cluster() -> tuple[list[dict], dict, dict]:
    spec = {
        "containers": [
            {
                "name": "app",
                "image": "registry.local/checkout:2.3",
                "env": [
                    {"name": "REDIS_HOST", "value": "redis"},
                    {"name": "REDIS_PORT", "value": "6379"},
                    {
                        "name": "DB_PASSWORD",
                        "valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "password"}},
                    },
                ],
            }
        ]
    }
    status = {
        "containerStatuses": [
            {
                "name": "app",
                "ready": False,
                "restartCount": 5,
                "state": {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 2m40s restarting failed container",
                    }
                },
                "lastState": {"terminated": {"reason": "Error", "exitCode": 1}},
            }
        ]
    }
    deployment, replicaset, pod = workload(
        "checkout", spec, phase="Running", status=status, node_name="worker-1"
    )
    service = {
        "kind": "Service",
        "metadata": {"name": "redis-master", "namespace": NS},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.0.0.12",
            "selector": {"app": "redis"},
            "ports": [{"port": 6379, "targetPort": 6379}],
        },
    }
    endpoints = {
        "kind": "Endpoints",
        "metadata": {"name": "redis-master", "namespace": NS},
        "subsets": [{"addresses": [{"ip": "10.1.0.7"}], "ports": [{"port": 6379}]}],
    }
    secret = {
        "kind": "Secret",
        "metadata": {"name": "checkout-db", "namespace": NS},
        "type": "Opaque",
        "data": {"password": "czNjcjN0LWZyb20tdGhlLXZhdWx0"},
    }
    objects = [
        *NODES,
        deployment,
        replicaset,
        pod,
        service,
        endpoints,
        secret,
        event(pod, "BackOff", "Back-off restarting failed container app in pod", count=12),
    ]
    logs = {
        (pod["metadata"]["name"], "app", True): REDIS_LOG + f"\ndebug: using db secret {SECRET_VALUE}",
        (pod["metadata"]["name"], "app", False): "starting checkout v2.3",
    }
    return objects, pod, logs
