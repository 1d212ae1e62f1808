"""A container's environment as the kubelet builds it, and the CreateContainerConfigError it raises."""

from __future__ import annotations

import base64
import re

from .quantity import parse


class ConfigError(Exception):
    """The container cannot be created: the message is the kubelet's, shown in state.waiting.message."""


_EXPANSION = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_FIELD_LABEL = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")

Lookup = dict[tuple[str, str], dict]  # (namespace, name) -> ConfigMap or Secret


def _config_map(config_maps: Lookup, namespace: str, name: str) -> dict:
    found = config_maps.get((namespace, name))
    if found is None:
        raise ConfigError(f'configmap "{name}" not found')
    return {**(found.get("data") or {}), **(found.get("binaryData") or {})}


def _secret(secrets: Lookup, namespace: str, name: str) -> dict:
    found = secrets.get((namespace, name))
    if found is None:
        raise ConfigError(f'secret "{name}" not found')
    return {
        key: base64.b64decode(value).decode(errors="replace")
        for key, value in (found.get("data") or {}).items()
    }


def _field(pod: dict, path: str) -> str:
    labelled = _FIELD_LABEL.fullmatch(path)
    if labelled:
        return (pod["metadata"].get(labelled.group(1)) or {}).get(labelled.group(2), "")
    values = {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": pod["metadata"].get("namespace", ""),
        "metadata.uid": pod["metadata"]["uid"],
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.hostIP": (pod.get("status") or {}).get("hostIP", ""),
        "status.podIP": (pod.get("status") or {}).get("podIP", ""),
    }
    return values.get(path, "")


def _resource_field(container: dict, ref: dict) -> str:
    section, _, name = ref.get("resource", "").partition(".")
    value = ((container.get("resources") or {}).get(section) or {}).get(name)
    if value is None:
        return "0"
    divisor = parse(ref.get("divisor") or "1")
    return str(int(-(-parse(value) // divisor)))


def resolve(
    container: dict, pod: dict, config_maps: Lookup, secrets: Lookup, services: list[dict]
) -> dict[str, str]:
    """envFrom, then env (with $(VAR) expansion), on top of the Service variables of the namespace."""
    namespace = pod["metadata"].get("namespace", "default")
    env: dict[str, str] = {}
    if pod["spec"].get("enableServiceLinks", True):
        for service in services:
            ip, ports = service["spec"].get("clusterIP"), service["spec"].get("ports") or []
            if service["metadata"].get("namespace") == namespace and ip not in (None, "", "None") and ports:
                prefix = service["metadata"]["name"].upper().replace("-", "_")
                env[f"{prefix}_SERVICE_HOST"] = ip
                env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        try:
            data = (
                _config_map(config_maps, namespace, ref.get("name", ""))
                if "configMapRef" in source
                else _secret(secrets, namespace, ref.get("name", ""))
            )
        except ConfigError:
            if ref.get("optional"):
                continue
            raise
        env.update({f"{prefix}{key}": value for key, value in data.items()})
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = _EXPANSION.sub(lambda m: env.get(m.group(1), m.group(0)), var.get("value", ""))
            continue
        source = var["valueFrom"]
        if "configMapKeyRef" in source or "secretKeyRef" in source:
            is_map = "configMapKeyRef" in source
            ref = source["configMapKeyRef" if is_map else "secretKeyRef"]
            try:
                data = (_config_map if is_map else _secret)(
                    config_maps if is_map else secrets, namespace, ref.get("name", "")
                )
                if ref["key"] not in data:
                    kind = "ConfigMap" if is_map else "Secret"
                    raise ConfigError(
                        f"couldn't find key {ref['key']} in {kind} {namespace}/{ref.get('name', '')}"
                    )
            except ConfigError:
                if ref.get("optional"):
                    continue
                raise
            env[name] = data[ref["key"]]
        elif "fieldRef" in source:
            env[name] = _field(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            env[name] = _resource_field(container, source["resourceFieldRef"])
    return env


def missing_volume(pod: dict, config_maps: Lookup, secrets: Lookup) -> tuple[str, str] | None:
    """(volume, reason) of the first ConfigMap or Secret volume that cannot be mounted."""
    namespace = pod["metadata"].get("namespace", "default")
    for volume in pod["spec"].get("volumes") or []:
        if "configMap" in volume:
            ref = volume["configMap"]
            if (namespace, ref.get("name", "")) not in config_maps and not ref.get("optional"):
                return volume["name"], f'configmap "{ref.get("name", "")}" not found'
        if "secret" in volume:
            ref = volume["secret"]
            if (namespace, ref.get("secretName", "")) not in secrets and not ref.get("optional"):
                return volume["name"], f'secret "{ref.get("secretName", "")}" not found'
    return None
