"""Server-side printing (``as=Table``): the columns and cells kubectl shows, computed like kube's printers."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType

Column = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)
Row = list[Any]


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


class _Printer:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def since(self, stamp: str | None) -> str:
        moment = parse_time(stamp)
        return "<unknown>" if moment is None else human_duration((self.now - moment).total_seconds())

    def age(self, obj: dict) -> str:
        return self.since(obj["metadata"].get("creationTimestamp"))


def _containers(template_spec: dict) -> tuple[str, str]:
    containers = template_spec.get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _selector(selector: dict | None) -> str:
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{expr['key']} {op.lower()} ({','.join(expr.get('values') or [])})")
        else:
            parts.append(expr["key"] if op == "Exists" else f"!{expr['key']}")
    return ",".join(parts) or "<none>"


def _finished(container: dict) -> datetime | None:
    """When the container's last run ended (lastState.terminated.finishedAt), for RESTARTS' "(5m ago)"."""
    return parse_time(((container.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))


def _latest(*moments: datetime | None) -> datetime | None:
    return max((m for m in moments if m is not None), default=None)


def pod_row(p: _Printer, pod: dict) -> Row:
    """kubectl's printPod: STATUS is the first init container still at work (Init:N/M, Init:<reason>), else
    the last app container with a reason; sidecars (init containers with restartPolicy Always) count in
    READY and RESTARTS like app containers."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    restarts, ready = 0, 0
    sidecars = {c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + len(sidecars)
    last_restart: datetime | None = None
    sidecar_restarts, last_sidecar_restart = 0, None
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "SchedulingGated"
        ):
            reason = "SchedulingGated"

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, container in enumerate(init_statuses):
        restarts += int(container.get("restartCount") or 0)
        last_restart = _latest(last_restart, _finished(container))
        if container.get("name") in sidecars:
            sidecar_restarts += int(container.get("restartCount") or 0)
            last_sidecar_restart = _latest(last_sidecar_restart, _finished(container))
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if container.get("name") in sidecars and container.get("started"):
            ready += bool(container.get("ready"))
            continue
        initializing = True
        if terminated:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode')}"
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    if not initializing or initialized:
        restarts, last_restart, has_running = sidecar_restarts, last_sidecar_restart, False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += int(container.get("restartCount") or 0)
            last_restart = _latest(last_restart, _finished(container))
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                reason = (
                    f"Signal:{terminated['signal']}"
                    if terminated.get("signal")
                    else f"ExitCode:{terminated.get('exitCode')}"
                )
            elif container.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            reason = "Running" if pod_ready else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restart_text = str(restarts)
    if restarts and last_restart is not None:
        restart_text = f"{restarts} ({human_duration((p.now - last_restart).total_seconds())} ago)"
    gates = spec.get("readinessGates") or []
    gate_text = "<none>"
    if gates:
        true_conditions = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        gate_text = f"{sum(1 for g in gates if g.get('conditionType') in true_conditions)}/{len(gates)}"
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        reason,
        restart_text,
        p.age(pod),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gate_text,
    ]


def node_row(p: _Printer, node: dict) -> Row:
    status, spec = node.get("status") or {}, node.get("spec") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(
        k.split("/", 1)[1]
        for k in (node["metadata"].get("labels") or {})
        if k.startswith("node-role.kubernetes.io/") and "/" in k
    )
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        node["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        p.age(node),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


def _template_spec(obj: dict) -> dict:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def deployment_row(p: _Printer, obj: dict) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_template_spec(obj))
    return [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        p.age(obj),
        names,
        images,
        _selector(spec.get("selector")),
    ]


def replicaset_row(p: _Printer, obj: dict) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_template_spec(obj))
    return [
        obj["metadata"]["name"],
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        p.age(obj),
        names,
        images,
        _selector(spec.get("selector")),
    ]


def statefulset_row(p: _Printer, obj: dict) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_template_spec(obj))
    return [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        p.age(obj),
        names,
        images,
    ]


def daemonset_row(p: _Printer, obj: dict) -> Row:
    status = obj.get("status") or {}
    names, images = _containers(_template_spec(obj))
    node_selector = _template_spec(obj).get("nodeSelector") or {}
    return [
        obj["metadata"]["name"],
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or "<none>",
        p.age(obj),
        names,
        images,
        _selector((obj.get("spec") or {}).get("selector")),
    ]


def controller_revision_row(p: _Printer, obj: dict) -> Row:
    owner = next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
    controller = "<none>"
    if owner is not None:  # formatResourceName: kind.group/name, lower case
        group = owner.get("apiVersion", "").rpartition("/")[0]
        controller = (
            f"{owner.get('kind', '')}{'.' + group if group else ''}".lower() + f"/{owner.get('name', '')}"
        )
    return [obj["metadata"]["name"], controller, obj.get("revision", 0), p.age(obj)]


def job_row(p: _Printer, obj: dict) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    state = next(
        (
            s
            for s in ("Complete", "Failed", "Suspended", "FailureTarget", "SuccessCriteriaMet")
            if s in conditions
        ),
        None,
    )
    if state is None:
        state = "Terminating" if obj["metadata"].get("deletionTimestamp") else "Running"
    completions = spec.get("completions")
    succeeded = status.get("succeeded", 0)
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration(((end or p.now) - start).total_seconds())
    names, images = _containers(_template_spec(obj))
    return [
        obj["metadata"]["name"],
        state,
        f"{succeeded}/{completions}"
        if completions is not None
        else f"{succeeded}/1 of {spec.get('parallelism', 1)}",
        duration,
        p.age(obj),
        names,
        images,
        _selector(spec.get("selector")),
    ]


def cronjob_row(p: _Printer, obj: dict) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    suspend = spec.get("suspend")
    last = status.get("lastScheduleTime")
    template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    names, images = _containers(template.get("spec") or {})
    return [
        obj["metadata"]["name"],
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        "<unset>" if suspend is None else str(bool(suspend)),
        len(status.get("active") or []),
        p.since(last) if last else "<none>",
        p.age(obj),
        names,
        images,
        _selector(((spec.get("jobTemplate") or {}).get("spec") or {}).get("selector")),
    ]


def service_row(p: _Printer, svc: dict) -> Row:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    ports = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port')}:{port['nodePort']}" if port.get("nodePort") else str(port.get("port"))
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    ingress = [
        i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []
    ]
    external = ",".join([*(spec.get("externalIPs") or []), *ingress])
    if not external:
        external = "<pending>" if spec.get("type") == "LoadBalancer" else spec.get("externalName") or "<none>"
    selector = spec.get("selector") or {}
    return [
        svc["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        external,
        ",".join(ports) or "<none>",
        p.age(svc),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
    ]


def endpoints_row(p: _Printer, obj: dict) -> Row:
    endpoints = []
    for subset in obj.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                endpoints.append(f"{address.get('ip')}:{port.get('port')}" if port else address.get("ip"))
    shown = ",".join(endpoints[:3]) + (f" + {len(endpoints) - 3} more..." if len(endpoints) > 3 else "")
    return [obj["metadata"]["name"], shown or "<none>", p.age(obj)]


def endpointslice_row(p: _Printer, obj: dict) -> Row:
    ports = ",".join(str(port.get("port", "")) for port in obj.get("ports") or []) or "<unset>"
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    shown = ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")
    return [obj["metadata"]["name"], obj.get("addressType", ""), ports, shown or "<unset>", p.age(obj)]


def event_row(p: _Printer, ev: dict) -> Row:
    first = p.since(ev.get("firstTimestamp") or ev.get("eventTime"))
    last = p.since(ev["lastTimestamp"]) if ev.get("lastTimestamp") else first
    if ev.get("series"):
        last = p.since(ev["series"].get("lastObservedTime"))
    involved = ev.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    source_text = source.get("component", "") + (f", {source['host']}" if source.get("host") else "")
    count = (ev.get("series") or {}).get("count") or ev.get("count") or 1
    return [
        last,
        ev.get("type", ""),
        ev.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        source_text or ev.get("reportingComponent", ""),
        str(ev.get("message", "")).strip(),
        first,
        count,
        ev["metadata"]["name"],
    ]


def configmap_row(p: _Printer, obj: dict) -> Row:
    return [
        obj["metadata"]["name"],
        len(obj.get("data") or {}) + len(obj.get("binaryData") or {}),
        p.age(obj),
    ]


def secret_row(p: _Printer, obj: dict) -> Row:
    return [obj["metadata"]["name"], obj.get("type", "Opaque"), len(obj.get("data") or {}), p.age(obj)]


def namespace_row(p: _Printer, obj: dict) -> Row:
    return [obj["metadata"]["name"], (obj.get("status") or {}).get("phase", ""), p.age(obj)]


def pvc_row(p: _Printer, obj: dict) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = "Terminating" if obj["metadata"].get("deletionTimestamp") else status.get("phase", "")
    modes = _access_modes(status.get("accessModes") or [])
    capacity = (status.get("capacity") or {}).get("storage", "")
    return [
        obj["metadata"]["name"],
        phase,
        spec.get("volumeName", ""),
        capacity,
        modes,
        spec.get("storageClassName") or "<unset>",
        spec.get("volumeAttributesClassName") or "<unset>",
        p.age(obj),
        spec.get("volumeMode", "Filesystem"),
    ]


def _access_modes(modes: list[str]) -> str:
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    return ",".join(short.get(m, m) for m in modes)


def pv_row(p: _Printer, obj: dict) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    claim = spec.get("claimRef") or {}
    return [
        obj["metadata"]["name"],
        (spec.get("capacity") or {}).get("storage", ""),
        _access_modes(spec.get("accessModes") or []),
        spec.get("persistentVolumeReclaimPolicy", "Retain"),
        status.get("phase", ""),
        f"{claim['namespace']}/{claim['name']}" if claim.get("name") else "",
        spec.get("storageClassName", ""),
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        p.age(obj),
        spec.get("volumeMode", "Filesystem"),
    ]


def serviceaccount_row(p: _Printer, obj: dict) -> Row:
    return [obj["metadata"]["name"], len(obj.get("secrets") or []), p.age(obj)]


def lease_row(p: _Printer, obj: dict) -> Row:
    return [obj["metadata"]["name"], (obj.get("spec") or {}).get("holderIdentity", ""), p.age(obj)]


def crd_row(p: _Printer, obj: dict) -> Row:
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp", "")]


def role_row(p: _Printer, obj: dict) -> Row:
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp", "")]


def role_binding_row(p: _Printer, obj: dict) -> Row:
    """Subjects as rbac.SubjectsStrings writes them: users, groups, then namespace/name of accounts."""
    ref = obj.get("roleRef") or {}
    subjects = obj.get("subjects") or []

    def names(kind: str) -> str:
        return ", ".join(
            f"{s.get('namespace', '')}/{s.get('name')}" if kind == "ServiceAccount" else str(s.get("name"))
            for s in subjects
            if s.get("kind") == kind
        )

    return [
        obj["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        p.age(obj),
        names("User"),
        names("Group"),
        names("ServiceAccount"),
    ]


def network_policy_row(p: _Printer, obj: dict) -> Row:
    return [obj["metadata"]["name"], _selector((obj.get("spec") or {}).get("podSelector")), p.age(obj)]


def disruption_budget_row(p: _Printer, obj: dict) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        str(spec["minAvailable"]) if spec.get("minAvailable") is not None else "N/A",
        str(spec["maxUnavailable"]) if spec.get("maxUnavailable") is not None else "N/A",
        status.get("disruptionsAllowed", 0),
        p.age(obj),
    ]


DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def storage_class_row(p: _Printer, obj: dict) -> Row:
    annotations = obj["metadata"].get("annotations") or {}
    default = any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)
    return [
        obj["metadata"]["name"] + (" (default)" if default else ""),
        obj.get("provisioner", ""),
        obj.get("reclaimPolicy", "Delete"),
        obj.get("volumeBindingMode", "Immediate"),
        bool(obj.get("allowVolumeExpansion")),
        p.age(obj),
    ]


def default_row(p: _Printer, obj: dict) -> Row:
    return [obj["metadata"]["name"], p.age(obj)]


_NAME: Column = ("Name", "string", 0)
_AGE: Column = ("Age", "string", 0)
_WORKLOAD_TAIL: list[Column] = [
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
]
_BINDING_COLUMNS: list[Column] = [
    _NAME,
    ("Role", "string", 0),
    _AGE,
    ("Users", "string", 1),
    ("Groups", "string", 1),
    ("ServiceAccounts", "string", 1),
]

PRINTERS: dict[str, tuple[list[Column], Callable[[_Printer, dict], Row]]] = {
    "Pod": (
        [
            _NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            _AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        pod_row,
    ),
    "Node": (
        [
            _NAME,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            _AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        node_row,
    ),
    "Deployment": (
        [
            _NAME,
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            _AGE,
            *_WORKLOAD_TAIL,
        ],
        deployment_row,
    ),
    "ReplicaSet": (
        [
            _NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            _AGE,
            *_WORKLOAD_TAIL,
        ],
        replicaset_row,
    ),
    "StatefulSet": ([_NAME, ("Ready", "string", 0), _AGE, *_WORKLOAD_TAIL[:2]], statefulset_row),
    "DaemonSet": (
        [
            _NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            _AGE,
            *_WORKLOAD_TAIL,
        ],
        daemonset_row,
    ),
    "ControllerRevision": (
        [_NAME, ("Controller", "string", 0), ("Revision", "string", 0), _AGE],
        controller_revision_row,
    ),
    "Job": (
        [
            _NAME,
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            _AGE,
            *_WORKLOAD_TAIL,
        ],
        job_row,
    ),
    "CronJob": (
        [
            _NAME,
            ("Schedule", "string", 0),
            ("Timezone", "string", 0),
            ("Suspend", "boolean", 0),
            ("Active", "integer", 0),
            ("Last Schedule", "string", 0),
            _AGE,
            *_WORKLOAD_TAIL,
        ],
        cronjob_row,
    ),
    "ServiceAccount": ([_NAME, ("Secrets", "integer", 0), _AGE], serviceaccount_row),
    "Service": (
        [
            _NAME,
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            _AGE,
            ("Selector", "string", 1),
        ],
        service_row,
    ),
    "Endpoints": ([_NAME, ("Endpoints", "string", 0), _AGE], endpoints_row),
    "EndpointSlice": (
        [_NAME, ("AddressType", "string", 0), ("Ports", "string", 0), ("Endpoints", "string", 0), _AGE],
        endpointslice_row,
    ),
    "Event": (
        [
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        event_row,
    ),
    "ConfigMap": ([_NAME, ("Data", "string", 0), _AGE], configmap_row),
    "Secret": ([_NAME, ("Type", "string", 0), ("Data", "string", 0), _AGE], secret_row),
    "Namespace": ([_NAME, ("Status", "string", 0), _AGE], namespace_row),
    "PersistentVolumeClaim": (
        [
            _NAME,
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            _AGE,
            ("VolumeMode", "string", 1),
        ],
        pvc_row,
    ),
    "PersistentVolume": (
        [
            _NAME,
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("Reclaim Policy", "string", 0),
            ("Status", "string", 0),
            ("Claim", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            ("Reason", "string", 0),
            _AGE,
            ("VolumeMode", "string", 1),
        ],
        pv_row,
    ),
    "Lease": ([_NAME, ("Holder", "string", 0), _AGE], lease_row),
    "CustomResourceDefinition": ([_NAME, ("Created At", "date", 0)], crd_row),
    "Role": ([_NAME, ("Created At", "date", 0)], role_row),
    "ClusterRole": ([_NAME, ("Created At", "date", 0)], role_row),
    "RoleBinding": (_BINDING_COLUMNS, role_binding_row),
    "ClusterRoleBinding": (_BINDING_COLUMNS, role_binding_row),
    "NetworkPolicy": ([_NAME, ("Pod-Selector", "string", 0), _AGE], network_policy_row),
    "PodDisruptionBudget": (
        [
            _NAME,
            ("Min Available", "string", 0),
            ("Max Unavailable", "string", 0),
            ("Allowed Disruptions", "integer", 0),
            _AGE,
        ],
        disruption_budget_row,
    ),
    "StorageClass": (
        [
            _NAME,
            ("Provisioner", "string", 0),
            ("ReclaimPolicy", "string", 0),
            ("VolumeBindingMode", "string", 0),
            ("AllowVolumeExpansion", "string", 0),
            _AGE,
        ],
        storage_class_row,
    ),
}


# -- custom resources: additionalPrinterColumns ------------------------------------------------------

_SEGMENT = re.compile(
    r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]|\[\*\]"
)


def jsonpath(obj: Any, path: str) -> Any:
    """The subset of kubectl JSONPath printer columns use: .a.b, [0], [*] and [?(@.k=="v")]."""
    path = path.strip().removeprefix("{").removesuffix("}")
    if not path.startswith(".") and not path.startswith("["):
        path = "." + path
    values = [obj]
    pos = 0
    while pos < len(path):
        match = _SEGMENT.match(path, pos)
        if not match:
            return None
        pos = match.end()
        name, index, key, expected = match.groups()
        following: list[Any] = []
        for value in values:
            if name is not None and isinstance(value, dict) and name in value:
                following.append(value[name])
            elif index is not None and isinstance(value, list) and int(index) < len(value):
                following.append(value[int(index)])
            elif key is not None and isinstance(value, list):
                following.extend(
                    v for v in value if isinstance(v, dict) and str(jsonpath(v, "." + key)) == expected
                )
            elif name is None and index is None and key is None and isinstance(value, list):
                following.extend(value)
        values = following
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def custom_columns(columns: list[dict]) -> list[Column]:
    return [_NAME] + [(c["name"], c.get("type", "string"), int(c.get("priority", 0))) for c in columns]


def custom_row(p: _Printer, obj: dict, columns: list[dict]) -> Row:
    row: Row = [obj["metadata"]["name"]]
    for column in columns:
        value = jsonpath(obj, column["jsonPath"])
        if value is not None and column.get("type") == "date":
            value = p.since(str(value))
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = str(value)
        row.append(value)
    return row


def table(
    rt: ResourceType,
    objects: list[dict],
    *,
    now: datetime | None = None,
    printer_columns: list[dict] | None = None,
    include_object: str = "Metadata",
    resource_version: str = "",
) -> dict:
    """A ``meta.k8s.io/v1`` Table with one row per object."""
    printer = _Printer(now or datetime.now(UTC))
    if printer_columns:
        columns = custom_columns(printer_columns)
        rows = [custom_row(printer, o, printer_columns) for o in objects]
    elif rt.kind in PRINTERS and not printer_columns:
        columns, render = PRINTERS[rt.kind]
        rows = [render(printer, o) for o in objects]
    else:
        columns, rows = [_NAME, _AGE], [default_row(printer, o) for o in objects]
    definitions = [
        {
            "name": name,
            "type": "string" if kind == "date" else kind,
            "format": "name" if name == "Name" and i == 0 else "",
            "description": "",
            "priority": priority,
        }
        for i, (name, kind, priority) in enumerate(columns)
    ]
    result_rows = []
    for obj, cells in zip(objects, rows, strict=True):
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        result_rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": result_rows,
    }
