"""Compact, line-oriented text for Kubernetes objects: what an SRE reads in `kubectl describe`, minus noise.

Secret values never appear: env from Secrets is shown as a marker, Secrets as key names only.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from smart_sre.investigation.tools.base import cut
from smart_sre.k8s.owners import controller_ref, pod_spec

_VALUE_CHARS = 120


def _compact(value: object) -> str:
    return cut(json.dumps(value, separators=(",", ":"), sort_keys=True), 300)


def env_line(env: dict) -> str:
    name = env.get("name", "?")
    if "value" in env:
        return f"{name}={cut(str(env['value']), _VALUE_CHARS)}"
    source = env.get("valueFrom") or {}
    if ref := source.get("secretKeyRef"):
        return f"{name}=<redacted: from secret {ref.get('name')} key {ref.get('key')}>"
    if ref := source.get("configMapKeyRef"):
        optional = " (optional)" if ref.get("optional") else ""
        return f"{name}=<from configmap {ref.get('name')} key {ref.get('key')}{optional}>"
    if ref := source.get("fieldRef"):
        return f"{name}=<from field {ref.get('fieldPath')}>"
    if ref := source.get("resourceFieldRef"):
        return f"{name}=<from resource {ref.get('resource')}>"
    return f"{name}="


def _probe(probe: dict) -> str:
    for handler in ("httpGet", "tcpSocket", "grpc", "exec"):
        if handler in probe:
            target = probe[handler]
            if handler == "httpGet":
                what = f"http-get :{target.get('port')}{target.get('path', '/')}"
            elif handler == "exec":
                what = "exec " + cut(" ".join(target.get("command") or []), 80)
            else:
                what = f"{handler} :{target.get('port')}"
            break
    else:
        what = "?"
    timing = ",".join(
        f"{key}={probe[key]}"
        for key in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")
        if key in probe
    )
    return f"{what} {timing}".strip()


def container_lines(container: dict, *, prefix: str = "container") -> list[str]:
    lines = [f"{prefix} {container.get('name')}: image={container.get('image')}"]
    if command := container.get("command"):
        lines.append("  command: " + cut(json.dumps(command), 200))
    if args := container.get("args"):
        lines.append("  args: " + cut(json.dumps(args), 200))
    if ports := container.get("ports"):
        lines.append(
            "  ports: " + ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in ports)
        )
    resources = container.get("resources") or {}
    if resources:
        parts = [
            f"{kind}.{name}={value}"
            for kind in ("requests", "limits")
            for name, value in sorted((resources.get(kind) or {}).items())
        ]
        lines.append("  resources: " + " ".join(parts))
    for env in container.get("env") or []:
        lines.append("  env " + env_line(env))
    for source in container.get("envFrom") or []:
        if ref := source.get("configMapRef"):
            lines.append(f"  envFrom configmap {ref.get('name')}")
        if ref := source.get("secretRef"):
            lines.append(f"  envFrom secret {ref.get('name')} (values redacted)")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe := container.get(probe_name):
            lines.append(f"  {probe_name}: {_probe(probe)}")
    return lines


def pod_spec_lines(spec: dict) -> list[str]:
    lines: list[str] = []
    for container in spec.get("initContainers") or []:
        lines.extend(container_lines(container, prefix="init-container"))
    for container in spec.get("containers") or []:
        lines.extend(container_lines(container))
    if selector := spec.get("nodeSelector"):
        lines.append("nodeSelector: " + _compact(selector))
    if affinity := spec.get("affinity"):
        lines.append("affinity: " + _compact(affinity))
    if tolerations := spec.get("tolerations"):
        lines.append("tolerations: " + _compact(tolerations))
    for volume in spec.get("volumes") or []:
        source = next((key for key in volume if key != "name"), "?")
        detail = volume.get(source) or {}
        ref = detail.get("name") or detail.get("claimName") or detail.get("secretName") or ""
        lines.append(f"volume {volume.get('name')}: {source} {ref}".rstrip())
    return lines


def _state(state: dict) -> str:
    for name, detail in state.items():
        detail = detail or {}
        parts = [name]
        for key in ("reason", "exitCode", "message"):
            if key in detail:
                parts.append(f"{key}={cut(str(detail[key]), 160)}")
        return " ".join(parts)
    return "unknown"


def pod_status_lines(pod: dict) -> list[str]:
    status = pod.get("status") or {}
    lines = [f"phase: {status.get('phase', 'Unknown')}"]
    if node := (pod.get("spec") or {}).get("nodeName"):
        lines.append(f"node: {node}")
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            reason = condition.get("reason", "")
            message = cut(condition.get("message", ""), 300)
            lines.append(f"condition {condition.get('type')}=False {reason} {message}".rstrip())
    for statuses in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(statuses) or []:
            lines.append(
                f"status {cs.get('name')}: ready={cs.get('ready')} restarts={cs.get('restartCount', 0)} "
                f"state={_state(cs.get('state') or {})}"
            )
            if last := cs.get("lastState"):
                lines.append(f"  last state: {_state(last)}")
    return lines


def owner_line(obj: dict) -> list[str]:
    ref = controller_ref(obj)
    return [f"owned by: {ref.get('kind')}/{ref.get('name')}"] if ref else []


def workload_lines(obj: dict) -> list[str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    lines = []
    if "replicas" in spec:
        lines.append(
            f"replicas: desired={spec.get('replicas')} ready={status.get('readyReplicas', 0)} "
            f"updated={status.get('updatedReplicas', 0)} available={status.get('availableReplicas', 0)}"
        )
    if obj.get("kind") == "Job":
        lines.append(
            f"job: active={status.get('active', 0)} succeeded={status.get('succeeded', 0)} failed={status.get('failed', 0)}"
        )
    return lines + pod_spec_lines(pod_spec(obj))


def service_lines(service: dict) -> list[str]:
    spec = service.get("spec") or {}
    ports = ", ".join(
        f"{p.get('name', '')}{':' if p.get('name') else ''}{p.get('port')}->{p.get('targetPort', p.get('port'))}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    return [
        f"type: {spec.get('type', 'ClusterIP')} clusterIP: {spec.get('clusterIP', '')}",
        f"selector: {_compact(spec.get('selector') or {})}",
        f"ports: {ports or 'none'}",
    ]


def endpoints_lines(endpoints: dict) -> list[str]:
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return ["no endpoints (no ready or unready addresses)"]
    lines = []
    for subset in subsets:
        ports = ",".join(str(p.get("port")) for p in subset.get("ports") or [])
        lines.append(
            f"ports {ports or '-'}: ready={len(subset.get('addresses') or [])} "
            f"notReady={len(subset.get('notReadyAddresses') or [])}"
        )
    return lines


def configmap_lines(configmap: dict) -> list[str]:
    data = configmap.get("data") or {}
    lines = [f"keys: {', '.join(sorted(data)) or 'none'}"]
    lines.extend(f"  {key}={cut(str(value), _VALUE_CHARS)}" for key, value in sorted(data.items()))
    return lines


def secret_lines(secret: dict) -> list[str]:
    keys = sorted({*(secret.get("data") or {}), *(secret.get("stringData") or {})})
    return [
        f"type: {secret.get('type', 'Opaque')}",
        f"keys: {', '.join(keys) or 'none'} (values never shown)",
    ]


def pvc_lines(pvc: dict) -> list[str]:
    spec = pvc.get("spec") or {}
    request = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    return [
        f"phase: {(pvc.get('status') or {}).get('phase', 'Unknown')}",
        f"storageClass: {spec.get('storageClassName')} request: {request} volume: {spec.get('volumeName') or 'none'}",
    ]


def node_lines(node: dict) -> list[str]:
    status = node.get("status") or {}
    spec = node.get("spec") or {}
    allocatable = status.get("allocatable") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    lines = [
        f"allocatable: cpu={allocatable.get('cpu')} memory={allocatable.get('memory')} pods={allocatable.get('pods')}",
        "labels: " + cut(", ".join(f"{k}={v}" for k, v in sorted(labels.items())), 300),
    ]
    if spec.get("unschedulable"):
        lines.append("unschedulable: true (cordoned)")
    for taint in spec.get("taints") or []:
        lines.append(f"taint: {taint.get('key')}={taint.get('value', '')}:{taint.get('effect')}")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            lines.append(f"Ready={condition.get('status')}")
    return lines


# Kinds whose description needs nothing but the object itself.
_DESCRIBE: dict[str, Callable[[dict], list[str]]] = {
    "Service": service_lines,
    "Endpoints": endpoints_lines,
    "ConfigMap": configmap_lines,
    "Secret": secret_lines,
    "PersistentVolumeClaim": pvc_lines,
    "Node": node_lines,
}


def object_lines(obj: dict) -> list[str]:
    """The description of any kind the agent may inspect."""
    kind = obj.get("kind", "")
    meta = obj.get("metadata") or {}
    header = [
        f"{kind}/{meta.get('name')}" + (f" in namespace {meta['namespace']}" if meta.get("namespace") else "")
    ]
    if kind == "Pod":
        body = owner_line(obj) + pod_status_lines(obj) + pod_spec_lines(obj.get("spec") or {})
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        body = owner_line(obj) + workload_lines(obj)
    elif kind in _DESCRIBE:
        body = _DESCRIBE[kind](obj)
    else:
        body = [_compact(obj.get("spec") or {})]
    return header + body
