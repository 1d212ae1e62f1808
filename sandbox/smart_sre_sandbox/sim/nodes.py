"""The cluster's nodes: three realistic workers by default, or the ones a scenario declares (SandboxNode)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from .quantity import kubelet_cpu, kubelet_memory, parse

KUBELET_VERSION = "v1.37.1"
# What the kubelet and system daemons keep for themselves: capacity minus this is allocatable.
RESERVED_CPU = Decimal("0.1")
RESERVED_MEMORY = Decimal(512 * 2**20)


class NodeSpec(BaseModel):
    """A node as a scenario declares it (``kind: SandboxNode``: metadata.name + these fields under spec)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    cpu: str = "4"
    memory: str = "8Gi"
    pods: int = 110
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[dict] = Field(default_factory=list)
    unschedulable: bool = False


DEFAULT_NODES: tuple[NodeSpec, ...] = (
    NodeSpec(name="sandbox-worker-1", labels={"topology.kubernetes.io/zone": "zone-a", "disktype": "ssd"}),
    NodeSpec(name="sandbox-worker-2", labels={"topology.kubernetes.io/zone": "zone-b"}),
    NodeSpec(name="sandbox-worker-3", labels={"topology.kubernetes.io/zone": "zone-c"}),
)


def node_object(spec: NodeSpec, index: int, now: str) -> dict:
    """The Node as a kubelet registers it; `index` numbers the node's IPs and pod CIDR."""
    cpu, memory = parse(spec.cpu), parse(spec.memory)
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "sandbox.standard",
        **spec.labels,
    }
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    capacity = {
        "cpu": kubelet_cpu(cpu),
        "memory": kubelet_memory(memory),
        "pods": str(spec.pods),
        "ephemeral-storage": "102400Mi",
        "hugepages-2Mi": "0",
    }
    allocatable = {
        **capacity,
        "cpu": kubelet_cpu(cpu - RESERVED_CPU),
        "memory": kubelet_memory(memory - RESERVED_MEMORY),
    }
    node_spec: dict = {
        "podCIDR": pod_cidr(index),
        "podCIDRs": [pod_cidr(index)],
        "providerID": f"sandbox://{spec.name}",
    }
    if spec.taints:
        node_spec["taints"] = spec.taints
    if spec.unschedulable:
        node_spec["unschedulable"] = True
    return {
        "metadata": {
            "name": spec.name,
            "labels": labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": node_spec,
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "reason": r,
                    "message": m,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
                for t, s, r, m in conditions
            ],
            "addresses": [
                {"type": "InternalIP", "address": node_ip(index)},
                {"type": "Hostname", "address": spec.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": f"{index:08d}-0000-4000-8000-000000000000",
                "containerRuntimeVersion": "containerd://2.1.1",
                "kernelVersion": "6.8.0-sandbox",
                "kubeProxyVersion": KUBELET_VERSION,
                "kubeletVersion": KUBELET_VERSION,
                "machineID": f"sandbox{index:024d}",
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": f"{index:08d}-5a4d-4b00-9000-000000000000",
            },
        },
    }


def node_ip(index: int) -> str:
    return f"172.18.0.{index + 2}"


def pod_cidr(index: int) -> str:
    return f"10.244.{index + 1}.0/24"


def node_index(node: dict) -> int:
    """The index `node_object` numbered a registered node's pod CIDR with."""
    return int(node["spec"]["podCIDR"].split(".")[2]) - 1


def node_address(node: dict) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((a["address"] for a in addresses if a["type"] == "InternalIP"), "")
