"""Defaulting of built-in kinds: the fields a real API server fills in, so objects read back alike."""

from __future__ import annotations

import base64
import random
from typing import Any

from . import rbac
from .resources import ResourceType

_POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_RESET_STATUS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Service"}
_NOT_READY_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def _dig(obj: dict, path: tuple[str, ...]) -> dict | None:
    current: Any = obj
    for part in path:
        current = current.get(part) if isinstance(current, dict) else None
    return current if isinstance(current, dict) else None


def qos_class(spec: dict) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    resources = [c.get("resources") or {} for c in containers if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        set(r.get("limits") or {}) >= {"cpu", "memory"}
        and all((r.get("requests") or {}).get(k, v) == v for k, v in (r.get("limits") or {}).items())
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


def prepare_for_create(rt: ResourceType, obj: dict) -> None:
    """Status and admission-time fields a create never takes from the client."""
    kind = rt.kind
    if rt.group == "apiextensions.k8s.io":
        return  # CustomResources.establish sets a CRD's status
    if kind == "Pod":
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
        if isinstance(obj.get("spec"), dict):
            tolerations = obj["spec"].setdefault("tolerations", [])
            known = {t.get("key") for t in tolerations if isinstance(t, dict)}
            tolerations.extend(dict(t) for t in _NOT_READY_TOLERATIONS if t["key"] not in known)
            obj["spec"].setdefault("priority", 0)  # the Priority admission plugin, without a PriorityClass
            obj["spec"].setdefault("preemptionPolicy", "PreemptLowerPriority")
            obj["spec"].setdefault("serviceAccountName", "default")
            obj["spec"].setdefault("serviceAccount", obj["spec"]["serviceAccountName"])
    elif kind == "Namespace":
        obj["status"] = {"phase": "Active"}
        obj["spec"] = {"finalizers": ["kubernetes"]}
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif kind == "PersistentVolumeClaim":
        obj["status"] = {"phase": "Pending"}
    elif kind == "PodDisruptionBudget":
        # The disruption controller's counts, before it has looked: the sandbox runs none.
        obj["status"] = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
    elif kind in _RESET_STATUS:
        obj["status"] = {"loadBalancer": {}} if kind == "Service" else {}
        if kind == "Service" and isinstance(obj.get("spec"), dict):
            spec = obj["spec"]
            if spec.get("type", "ClusterIP") != "ExternalName" and not spec.get("clusterIP"):
                spec["clusterIP"] = f"10.96.{random.randint(1, 254)}.{random.randint(1, 254)}"
            if spec.get("clusterIP"):
                spec.setdefault("clusterIPs", [spec["clusterIP"]])


def prepare_for_update(rt: ResourceType, obj: dict, old: dict) -> None:
    """Fields an update may omit that the server carries over, such as a Service's allocated cluster IP."""
    if rt.kind == "Service" and isinstance(obj.get("spec"), dict):
        for carried in ("clusterIP", "clusterIPs"):
            if carried in (old.get("spec") or {}):
                obj["spec"].setdefault(carried, old["spec"][carried])


def apply(rt: ResourceType, obj: dict) -> None:
    """Idempotent defaults, applied on create and on every update."""
    spec = obj.get("spec")
    if rt.kind == "Pod" and isinstance(spec, dict):
        _default_pod_spec(spec)
    template_path = _POD_TEMPLATE_PATHS.get(rt.kind)
    if template_path and isinstance(spec, dict):
        template_spec = _dig(obj, (*template_path, "spec"))
        if template_spec is not None:
            _default_pod_spec(template_spec)
    if rt.kind == "Deployment" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    elif rt.kind in ("ReplicaSet", "StatefulSet") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        if rt.kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    elif rt.kind == "DaemonSet" and isinstance(spec, dict):
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault(
            "updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
        )
    elif rt.kind == "Job" and isinstance(spec, dict):
        for key, value in (("parallelism", 1), ("completions", 1), ("backoffLimit", 6)):
            spec.setdefault(key, value)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        if not spec.get("manualSelector"):
            _generate_job_selector(obj["metadata"], spec)
    elif rt.kind == "CronJob" and isinstance(spec, dict):
        for key, value in (
            ("suspend", False),
            ("concurrencyPolicy", "Allow"),
            ("successfulJobsHistoryLimit", 3),
            ("failedJobsHistoryLimit", 1),
        ):
            spec.setdefault(key, value)
    elif rt.kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])
    elif rt.kind == "NetworkPolicy" and isinstance(spec, dict):
        spec.setdefault("podSelector", {})
        for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
            for port in rule.get("ports") or []:
                port.setdefault("protocol", "TCP")
        if not spec.get("policyTypes"):
            spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    elif rt.kind == "StorageClass":
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")
    elif rt.group == rbac.GROUP:
        rbac.default(obj)
    elif rt.kind == "Secret":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()


def _generate_job_selector(meta: dict, spec: dict) -> None:
    """Label the template with the Job's name and uid and select on the uid, as the Job registry does.

    The uid alone makes the selector unique, so the pods of a deleted and recreated Job never match.
    """
    name, uid = meta.get("name", ""), meta.get("uid", "")
    template = spec.get("template")
    template_meta = template.setdefault("metadata", {}) if isinstance(template, dict) else None
    labels = template_meta.setdefault("labels", {}) if isinstance(template_meta, dict) else None
    if not isinstance(labels, dict):
        return
    for key, value in (
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid),
        ("job-name", name),
    ):
        labels.setdefault(key, value)
    selector = spec.setdefault("selector", {})
    if isinstance(selector, dict):
        selector.setdefault("matchLabels", {}).setdefault("batch.kubernetes.io/controller-uid", uid)


def _default_pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(container, dict):
            continue
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        image = str(container.get("image") or "")
        tag = image.rsplit("/", 1)[-1]
        untagged_or_latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if untagged_or_latest else "IfNotPresent")
        resources = container.setdefault("resources", {})
        if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
            requests = resources.setdefault("requests", {})
            for name, value in resources["limits"].items():
                requests.setdefault(name, value)
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
        for probe in (container.get(k) for k in ("livenessProbe", "readinessProbe", "startupProbe")):
            if isinstance(probe, dict):
                _default_probe(probe)
        lifecycle = container.get("lifecycle") if isinstance(container.get("lifecycle"), dict) else {}
        for hook in (lifecycle.get("postStart"), lifecycle.get("preStop")):
            if isinstance(hook, dict):
                _default_http_get(hook)
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") if isinstance(env, dict) else None
            field_ref = value_from.get("fieldRef") if isinstance(value_from, dict) else None
            if isinstance(field_ref, dict):
                field_ref.setdefault("apiVersion", "v1")


def _default_probe(probe: dict) -> None:
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        probe.setdefault(key, value)
    _default_http_get(probe)


def _default_http_get(handler: dict) -> None:
    action = handler.get("httpGet")
    if isinstance(action, dict):
        action.setdefault("path", "/")
        action.setdefault("scheme", "HTTP")
