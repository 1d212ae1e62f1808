"""A container's environment as the kubelet builds it, and the CreateContainerConfigError it raises.

The kubelet (Kubelet._start) calls `resolve` for the environment, `expand` for `$(VAR)` references in
command and args, and `check_non_root` for runAsNonRoot; files.py reads ConfigMap, Secret and downward API
values through the same helpers.
"""

from __future__ import annotations

import base64
import re

from .quantity import parse


class ConfigError(Exception):
    """The container cannot be created: the message is the kubelet's, shown in state.waiting.message."""


_FIELD_LABEL = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")

Lookup = dict[tuple[str, str], dict]  # (namespace, name) -> ConfigMap or Secret


def config_map_data(config_map: dict) -> dict[str, str]:
    """A ConfigMap's keys and values, binaryData decoded."""
    binary = {
        key: base64.b64decode(value).decode(errors="replace")
        for key, value in (config_map.get("binaryData") or {}).items()
    }
    return {**(config_map.get("data") or {}), **binary}


def secret_data(secret: dict) -> dict[str, str]:
    """A Secret's keys and decoded values."""
    return {
        key: base64.b64decode(value).decode(errors="replace")
        for key, value in (secret.get("data") or {}).items()
    }


def _config_map(config_maps: Lookup, namespace: str, name: str) -> dict:
    found = config_maps.get((namespace, name))
    if found is None:
        raise ConfigError(f'configmap "{name}" not found')
    return config_map_data(found)


def _secret(secrets: Lookup, namespace: str, name: str) -> dict:
    found = secrets.get((namespace, name))
    if found is None:
        raise ConfigError(f'secret "{name}" not found')
    return secret_data(found)


def field_value(pod: dict, path: str) -> str:
    """A fieldRef's value (env var or downward API file)."""
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


def resource_value(container: dict, ref: dict) -> str:
    """A resourceFieldRef's value, rounded up to its divisor."""
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
            env[name] = expand(var.get("value", ""), env)
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
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            env[name] = resource_value(container, source["resourceFieldRef"])
    return env


def missing_volume(pod: dict, config_maps: Lookup, secrets: Lookup) -> tuple[str, str] | None:
    """(volume, reason) of the first ConfigMap or Secret volume (or projection) that cannot be mounted."""
    namespace = pod["metadata"].get("namespace", "default")
    for volume in pod["spec"].get("volumes") or []:
        sources = (volume.get("projected") or {}).get("sources") or [volume]
        for source in sources:
            if "configMap" not in source and "secret" not in source:
                continue
            is_map = "configMap" in source
            ref = source["configMap" if is_map else "secret"]
            name = ref.get("name", "") if is_map else ref.get("secretName", ref.get("name", ""))
            found = (config_maps if is_map else secrets).get((namespace, name))
            if ref.get("optional"):
                continue
            if found is None:
                return volume["name"], f'{"configmap" if is_map else "secret"} "{name}" not found'
            data = config_map_data(found) if is_map else secret_data(found)
            for item in ref.get("items") or []:
                if item.get("key") not in data:
                    kind = (
                        "configmap references non-existent config key"
                        if is_map
                        else ("references non-existent secret key")
                    )
                    return volume["name"], f"{kind}: {item.get('key')}"
    return None


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion in command, args and env values: `$$` is a literal `$`, and a
    reference to a variable that is not defined stays as written."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        end = text.find(")", i + 2) if text.startswith("$(", i) else -1
        if end != -1:
            name = text[i + 2 : end]
            out.append(env.get(name, text[i : end + 1]))
            i = end + 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def run_as_user(pod: dict, container: dict, image_user: str) -> int | None:
    """The uid the container runs as: its runAsUser, the pod's, else the image's USER (none or a name: None
    when the image names a user, 0 when it names none)."""
    for context in (container.get("securityContext") or {}, pod["spec"].get("securityContext") or {}):
        if context.get("runAsUser") is not None:
            return int(context["runAsUser"])
    user = image_user.split(":")[0]
    return int(user) if user.isdigit() else (None if user else 0)


def check_non_root(pod: dict, container: dict, image_user: str, pod_label: str) -> None:
    """The kubelet's runAsNonRoot verification, done before the container is created."""
    contexts = (container.get("securityContext") or {}, pod["spec"].get("securityContext") or {})
    non_root = next((c["runAsNonRoot"] for c in contexts if c.get("runAsNonRoot") is not None), False)
    if not non_root:
        return
    where = f'(pod: "{pod_label}", container: {container["name"]})'
    explicit = next((c["runAsUser"] for c in contexts if c.get("runAsUser") is not None), None)
    if explicit is not None:
        if int(explicit) == 0:
            raise ConfigError(f"container's runAsUser breaks non-root policy {where}")
        return
    uid = run_as_user(pod, container, image_user)
    if uid == 0:
        raise ConfigError(f"container has runAsNonRoot and image will run as root {where}")
    if uid is None:
        raise ConfigError(
            f"container has runAsNonRoot and image has non-numeric user ({image_user.split(':')[0]}), "
            f"cannot verify user is non-root {where}"
        )
