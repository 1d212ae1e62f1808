"""Validation of built-in kinds: the checks users hit first, worded as the real API server words them."""

from __future__ import annotations

import re
from typing import Any

from . import admission_policies, crds, rbac
from .errors import duplicate, forbidden_field, invalid_value, required, unsupported
from .names import dns_label, dns_subdomain, label_causes
from .resources import ResourceType
from .selectors import selector_from_label_selector

_LABEL_NAMED = {"Namespace", "Service"}
_WORKLOADS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"}
_POD_MUTABLE = ("image",)


def validate(rt: ResourceType, obj: dict, old: dict | None) -> list[dict]:
    """Field causes for a 422 Invalid; empty when the object is acceptable."""
    causes = validate_metadata(rt, obj["metadata"])
    spec = obj.get("spec")
    if rt.kind == "Pod":
        causes += validate_pod_spec("spec", spec)
        if old is not None:
            causes += _pod_update(old.get("spec") or {}, spec or {})
    elif rt.kind in _WORKLOADS or rt.kind == "Job":
        causes += _validate_workload(rt, spec, old)
    elif rt.kind == "Service":
        causes += _validate_service(spec)
    elif rt.kind == "CustomResourceDefinition":
        causes += crds.validate_definition(obj)
    elif rt.group == rbac.GROUP:
        causes += rbac.validate(rt, obj, old)
    elif rt.group == admission_policies.GROUP:
        causes += admission_policies.validate_definition(rt, obj)
    elif rt.kind == "NetworkPolicy":
        causes += _validate_network_policy(spec)
    elif rt.kind == "PodDisruptionBudget":
        causes += _validate_disruption_budget(spec)
    elif rt.kind == "StorageClass":
        causes += _validate_storage_class(obj, old)
    elif rt.kind == "ControllerRevision":
        causes += _validate_controller_revision(obj, old)
    return causes


def validate_metadata(rt: ResourceType, meta: dict) -> list[dict]:
    """The name and labels checks every kind, built-in or custom, gets."""
    name_check = dns_label if rt.kind in _LABEL_NAMED and not rt.group else dns_subdomain
    if rt.group == rbac.GROUP:
        name_check = rbac.name_causes
    return name_check("metadata.name", meta.get("name", "")) + label_causes(meta.get("labels") or {})


def validate_pod_spec(path: str, spec: Any) -> list[dict]:
    if not isinstance(spec, dict):
        return [required(path)]
    causes: list[dict] = []
    containers = spec.get("containers")
    if not containers:
        causes.append(required(f"{path}.containers"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(group) or []):
            where = f"{path}.{group}[{i}]"
            if not isinstance(container, dict):
                causes.append(invalid_value(where, container, "must be an object"))
                continue
            cname = container.get("name")
            if not cname:
                causes.append(required(f"{where}.name"))
            else:
                causes += dns_label(f"{where}.name", cname)
                if cname in seen:
                    causes.append(duplicate(f"{where}.name", cname))
                seen.add(cname)
            if not container.get("image"):
                causes.append(required(f"{where}.image"))
            pull = container.get("imagePullPolicy")
            if pull is not None and pull not in ("Always", "IfNotPresent", "Never"):
                causes.append(
                    unsupported(f"{where}.imagePullPolicy", pull, ["Always", "IfNotPresent", "Never"])
                )
    restart = spec.get("restartPolicy")
    if restart is not None and restart not in ("Always", "OnFailure", "Never"):
        causes.append(unsupported(f"{path}.restartPolicy", restart, ["Always", "OnFailure", "Never"]))
    return causes


def _pod_update(old: dict, new: dict) -> list[dict]:
    """Pods are immutable but for images, added tolerations, activeDeadlineSeconds and a first nodeName."""

    def comparable(spec: dict) -> dict:
        result = {
            k: v for k, v in spec.items() if k not in ("tolerations", "activeDeadlineSeconds", "nodeName")
        }
        for group in ("containers", "initContainers"):
            result[group] = [
                {k: v for k, v in c.items() if k not in _POD_MUTABLE}
                for c in spec.get(group) or []
                if isinstance(c, dict)
            ]
        return result

    node_changed = old.get("nodeName") and new.get("nodeName") != old.get("nodeName")
    if comparable(old) != comparable(new) or node_changed:
        return [
            forbidden_field(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,"
                "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                "(allow it to be set to 1 if it was previously negative)",
            )
        ]
    return []


def _validate_workload(rt: ResourceType, spec: Any, old: dict | None) -> list[dict]:
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[dict] = []
    selector = spec.get("selector")
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    if rt.kind != "Job":
        if not selector:
            causes.append(required("spec.selector"))
        elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
            causes.append(
                invalid_value("spec.selector", selector, "empty selector is invalid for deployment")
            )
        else:
            labels = (template.get("metadata") or {}).get("labels") or {}
            if not selector_from_label_selector(selector).matches({"metadata": {"labels": labels}}):
                causes.append(
                    invalid_value(
                        "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
                    )
                )
        if old is not None and (old.get("spec") or {}).get("selector") != selector:
            causes.append(invalid_value("spec.selector", selector, "field is immutable"))
        replicas = spec.get("replicas")
        if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
            causes.append(invalid_value("spec.replicas", replicas, "must be greater than or equal to 0"))
    causes += validate_pod_spec("spec.template.spec", template.get("spec"))
    if rt.kind == "Job":
        restart = (template.get("spec") or {}).get("restartPolicy")
        if restart not in ("OnFailure", "Never"):
            causes.append(unsupported("spec.template.spec.restartPolicy", restart, ["OnFailure", "Never"]))
    return causes


def _validate_service(spec: Any) -> list[dict]:
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[dict] = []
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(
            unsupported("spec.type", kind, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"])
        )
    if kind != "ExternalName" and spec.get("clusterIP") != "None" and not spec.get("ports"):
        causes.append(required("spec.ports"))
    for i, port in enumerate(spec.get("ports") or []):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(
                invalid_value(f"spec.ports[{i}].port", number, "must be between 1 and 65535, inclusive")
            )
    return causes


def _validate_ports(where: str, ports: list[dict]) -> list[dict]:
    causes: list[dict] = []
    for i, port in enumerate(ports):
        protocol = port.get("protocol", "TCP")
        if protocol not in ("TCP", "UDP", "SCTP"):
            causes.append(unsupported(f"{where}.ports[{i}].protocol", protocol, ["SCTP", "TCP", "UDP"]))
        number = port.get("port")
        if isinstance(number, int) and not 1 <= number <= 65535:
            causes.append(
                invalid_value(f"{where}.ports[{i}].port", number, "must be between 1 and 65535, inclusive")
            )
        end = port.get("endPort")
        if end is not None and (not isinstance(number, int) or end < number):
            causes.append(
                invalid_value(
                    f"{where}.ports[{i}].endPort",
                    end,
                    "must be greater than or equal to `port`"
                    if isinstance(number, int)
                    else "may not be specified when `port` is non-numeric",
                )
            )
    return causes


def _validate_peers(where: str, peers: list[dict]) -> list[dict]:
    causes: list[dict] = []
    for i, peer in enumerate(peers):
        chosen = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
        if not chosen:
            causes.append(required(f"{where}[{i}]", "must specify a peer"))
        elif "ipBlock" in chosen and len(chosen) > 1:
            causes.append(forbidden_field(f"{where}[{i}]", "may not specify both ipBlock and another peer"))
        elif "ipBlock" in chosen and not peer["ipBlock"].get("cidr"):
            causes.append(required(f"{where}[{i}].ipBlock.cidr"))
    return causes


def _validate_network_policy(spec: Any) -> list[dict]:
    """The rules a NetworkPolicy must satisfy to be stored; the sandbox does not enforce it."""
    spec = spec if isinstance(spec, dict) else {}
    causes: list[dict] = []
    types = spec.get("policyTypes") or []
    for i, kind in enumerate(types):
        if kind not in ("Ingress", "Egress"):
            causes.append(unsupported(f"spec.policyTypes[{i}]", kind, ["Ingress", "Egress"]))
    if len(types) > 2:
        causes.append(invalid_value("spec.policyTypes", types, "may not specify more than two policyTypes"))
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            where = f"spec.{direction}[{i}]"
            causes += _validate_ports(where, rule.get("ports") or [])
            causes += _validate_peers(f"{where}.{peers}", rule.get(peers) or [])
    return causes


def _validate_disruption_budget(spec: Any) -> list[dict]:
    spec = spec if isinstance(spec, dict) else {}
    causes: list[dict] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(invalid_value("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        value = spec.get(key)
        if isinstance(value, int) and value < 0:
            causes.append(invalid_value(f"spec.{key}", value, "must be greater than or equal to 0"))
        elif isinstance(value, str) and not re.fullmatch(r"[0-9]+%", value):
            causes.append(
                invalid_value(
                    f"spec.{key}",
                    value,
                    "a valid percent string must be a numeric string followed by an ending '%' "
                    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                )
            )
    return causes


def _validate_controller_revision(obj: dict, old: dict | None) -> list[dict]:
    """A revision's data is mandatory and, like history, never rewritten; only its number may move."""
    causes: list[dict] = []
    if obj.get("data") is None:
        causes.append(required("data", "data is mandatory"))
    revision = obj.get("revision")
    if isinstance(revision, int) and revision < 0:
        causes.append(invalid_value("revision", revision, "must be greater than or equal to 0"))
    if old is not None and old.get("data") != obj.get("data"):
        causes.append(invalid_value("data", obj.get("data"), "field is immutable"))
    return causes


def _validate_storage_class(obj: dict, old: dict | None) -> list[dict]:
    causes: list[dict] = []
    if not obj.get("provisioner"):
        causes.append(required("provisioner"))
    policy = obj.get("reclaimPolicy")
    if policy not in ("Delete", "Retain"):
        causes.append(unsupported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = obj.get("volumeBindingMode")
    if mode not in ("Immediate", "WaitForFirstConsumer"):
        causes.append(unsupported("volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]))
    if old is not None:
        for field in ("parameters", "provisioner", "reclaimPolicy"):
            if old.get(field) != obj.get(field):
                causes.append(forbidden_field(field, f"updates to {field} are forbidden."))
        if old.get("volumeBindingMode") != mode:
            causes.append(invalid_value("volumeBindingMode", mode, "field is immutable"))
    return causes
