"""Decoding of Kubernetes protobuf request bodies into JSON-shaped objects.

kubectl's typed commands (``kubectl create namespace|configmap|secret|deployment|service|job``...)
send ``application/vnd.kubernetes.protobuf`` bodies and accept JSON answers. This module reads the
``k8s\\x00`` envelope and the fields of the kinds those commands build, with the field numbers of
k8s.io/api's generated.proto. Fields it does not know are skipped, as a lenient decoder would.
"""

from __future__ import annotations

import base64
from typing import Any

from .errors import unsupported_media_type

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

# A schema maps a field number to (JSON name, kind, sub-schema, repeated). Kinds ending in "?" are
# pointer fields in Go: their zero values are meaningful and kept.
Field = tuple[str, str, Any, bool]
Schema = dict[int, Field]


def _f(name: str, kind: str = "string", sub: Any = None, *, repeated: bool = False) -> Field:
    return (name, kind, sub, repeated)


REVIEW_ATTRIBUTES: Schema = {
    1: _f(
        "resourceAttributes",
        "msg",
        {
            1: _f("namespace"),
            2: _f("verb"),
            3: _f("group"),
            4: _f("version"),
            5: _f("resource"),
            6: _f("subresource"),
            7: _f("name"),
        },
    ),
    2: _f("nonResourceAttributes", "msg", {1: _f("path"), 2: _f("verb")}),
}
OWNER_REFERENCE: Schema = {
    1: _f("kind"),
    3: _f("name"),
    4: _f("uid"),
    5: _f("apiVersion"),
    6: _f("controller", "bool?"),
    7: _f("blockOwnerDeletion", "bool?"),
}
OBJECT_META: Schema = {
    1: _f("name"),
    2: _f("generateName"),
    3: _f("namespace"),
    5: _f("uid"),
    6: _f("resourceVersion"),
    7: _f("generation", "int"),
    11: _f("labels", "map"),
    12: _f("annotations", "map"),
    13: _f("ownerReferences", "msg", OWNER_REFERENCE, repeated=True),
    14: _f("finalizers", repeated=True),
}
LABEL_SELECTOR: Schema = {
    1: _f("matchLabels", "map"),
    2: _f(
        "matchExpressions",
        "msg",
        {1: _f("key"), 2: _f("operator"), 3: _f("values", repeated=True)},
        repeated=True,
    ),
}
INT_OR_STRING: Schema = {1: _f("type", "int"), 2: _f("intVal", "int"), 3: _f("strVal")}
QUANTITY_MAP = "quantities"
KEY_TO_PATH: Schema = {1: _f("key"), 2: _f("path"), 3: _f("mode", "int?")}
ENV_VAR: Schema = {
    1: _f("name"),
    2: _f("value"),
    3: _f(
        "valueFrom",
        "msg",
        {
            1: _f("fieldRef", "msg", {1: _f("apiVersion"), 2: _f("fieldPath")}),
            3: _f(
                "configMapKeyRef",
                "msg",
                {
                    1: _f("localObjectReference", "inline", {1: _f("name")}),
                    2: _f("key"),
                    3: _f("optional", "bool?"),
                },
            ),
            4: _f(
                "secretKeyRef",
                "msg",
                {
                    1: _f("localObjectReference", "inline", {1: _f("name")}),
                    2: _f("key"),
                    3: _f("optional", "bool?"),
                },
            ),
        },
    ),
}
CONTAINER: Schema = {
    1: _f("name"),
    2: _f("image"),
    3: _f("command", repeated=True),
    4: _f("args", repeated=True),
    5: _f("workingDir"),
    6: _f(
        "ports",
        "msg",
        {
            1: _f("name"),
            2: _f("hostPort", "int"),
            3: _f("containerPort", "int"),
            4: _f("protocol"),
            5: _f("hostIP"),
        },
        repeated=True,
    ),
    7: _f("env", "msg", ENV_VAR, repeated=True),
    8: _f("resources", "msg", {1: _f("limits", QUANTITY_MAP), 2: _f("requests", QUANTITY_MAP)}),
    9: _f(
        "volumeMounts",
        "msg",
        {1: _f("name"), 2: _f("readOnly", "bool"), 3: _f("mountPath"), 4: _f("subPath")},
        repeated=True,
    ),
    13: _f("terminationMessagePath"),
    14: _f("imagePullPolicy"),
    16: _f("stdin", "bool"),
    17: _f("stdinOnce", "bool"),
    18: _f("tty", "bool"),
    20: _f("terminationMessagePolicy"),
}
VOLUME: Schema = {
    1: _f("name"),
    2: _f(
        "volumeSource",
        "inline",
        {
            1: _f("hostPath", "msg", {1: _f("path"), 2: _f("type")}),
            2: _f("emptyDir", "msg", {1: _f("medium")}),
            6: _f(
                "secret",
                "msg",
                {
                    1: _f("secretName"),
                    2: _f("items", "msg", KEY_TO_PATH, repeated=True),
                    3: _f("defaultMode", "int?"),
                },
            ),
            10: _f("persistentVolumeClaim", "msg", {1: _f("claimName"), 2: _f("readOnly", "bool")}),
            19: _f(
                "configMap",
                "msg",
                {
                    1: _f("localObjectReference", "inline", {1: _f("name")}),
                    2: _f("items", "msg", KEY_TO_PATH, repeated=True),
                    3: _f("defaultMode", "int?"),
                },
            ),
        },
    ),
}
TOLERATION: Schema = {
    1: _f("key"),
    2: _f("operator"),
    3: _f("value"),
    4: _f("effect"),
    5: _f("tolerationSeconds", "int?"),
}
POD_SPEC: Schema = {
    1: _f("volumes", "msg", VOLUME, repeated=True),
    2: _f("containers", "msg", CONTAINER, repeated=True),
    3: _f("restartPolicy"),
    4: _f("terminationGracePeriodSeconds", "int?"),
    5: _f("activeDeadlineSeconds", "int?"),
    6: _f("dnsPolicy"),
    7: _f("nodeSelector", "map"),
    8: _f("serviceAccountName"),
    9: _f("serviceAccount"),
    10: _f("nodeName"),
    11: _f("hostNetwork", "bool"),
    14: _f("securityContext", "msg", {}),
    15: _f("imagePullSecrets", "msg", {1: _f("name")}, repeated=True),
    16: _f("hostname"),
    17: _f("subdomain"),
    19: _f("schedulerName"),
    20: _f("initContainers", "msg", CONTAINER, repeated=True),
    22: _f("tolerations", "msg", TOLERATION, repeated=True),
    24: _f("priorityClassName"),
}
POD_TEMPLATE: Schema = {1: _f("metadata", "msg", OBJECT_META), 2: _f("spec", "msg", POD_SPEC)}
JOB_SPEC: Schema = {
    1: _f("parallelism", "int?"),
    2: _f("completions", "int?"),
    3: _f("activeDeadlineSeconds", "int?"),
    4: _f("selector", "msg", LABEL_SELECTOR),
    5: _f("manualSelector", "bool?"),
    6: _f("template", "msg", POD_TEMPLATE),
    7: _f("backoffLimit", "int?"),
    8: _f("ttlSecondsAfterFinished", "int?"),
    9: _f("completionMode"),
    10: _f("suspend", "bool?"),
}
_META = _f("metadata", "msg", OBJECT_META)
POLICY_RULE: Schema = {
    1: _f("verbs", repeated=True),
    2: _f("apiGroups", repeated=True),
    3: _f("resources", repeated=True),
    4: _f("resourceNames", repeated=True),
    5: _f("nonResourceURLs", repeated=True),
}
_RULES = _f("rules", "msg", POLICY_RULE, repeated=True)
ROLE_BINDING: Schema = {
    1: _META,
    2: _f(
        "subjects",
        "msg",
        {1: _f("kind"), 2: _f("apiGroup"), 3: _f("name"), 4: _f("namespace")},
        repeated=True,
    ),
    3: _f("roleRef", "msg", {1: _f("apiGroup"), 2: _f("kind"), 3: _f("name")}),
}

KINDS: dict[str, Schema] = {
    "Namespace": {1: _META, 2: _f("spec", "msg", {1: _f("finalizers", repeated=True)})},
    "ConfigMap": {
        1: _META,
        2: _f("data", "map"),
        3: _f("binaryData", "bytesmap"),
        4: _f("immutable", "bool?"),
    },
    "Secret": {
        1: _META,
        2: _f("data", "bytesmap"),
        3: _f("type"),
        4: _f("stringData", "map"),
        5: _f("immutable", "bool?"),
    },
    "ServiceAccount": {1: _META, 4: _f("automountServiceAccountToken", "bool?")},
    "Pod": {1: _META, 2: _f("spec", "msg", POD_SPEC)},
    "Service": {
        1: _META,
        2: _f(
            "spec",
            "msg",
            {
                1: _f(
                    "ports",
                    "msg",
                    {
                        1: _f("name"),
                        2: _f("protocol"),
                        3: _f("port", "int"),
                        4: _f("targetPort", "intorstr", INT_OR_STRING),
                        5: _f("nodePort", "int"),
                    },
                    repeated=True,
                ),
                2: _f("selector", "map"),
                3: _f("clusterIP"),
                4: _f("type"),
                5: _f("externalIPs", repeated=True),
                7: _f("sessionAffinity"),
                10: _f("externalName"),
            },
        ),
    },
    "Deployment": {
        1: _META,
        2: _f(
            "spec",
            "msg",
            {
                1: _f("replicas", "int?"),
                2: _f("selector", "msg", LABEL_SELECTOR),
                3: _f("template", "msg", POD_TEMPLATE),
                4: _f(
                    "strategy",
                    "msg",
                    {
                        1: _f("type"),
                        2: _f(
                            "rollingUpdate",
                            "msg",
                            {
                                1: _f("maxUnavailable", "intorstr", INT_OR_STRING),
                                2: _f("maxSurge", "intorstr", INT_OR_STRING),
                            },
                        ),
                    },
                ),
                5: _f("minReadySeconds", "int"),
                6: _f("revisionHistoryLimit", "int?"),
                7: _f("paused", "bool"),
                9: _f("progressDeadlineSeconds", "int?"),
            },
        ),
    },
    "Job": {1: _META, 2: _f("spec", "msg", JOB_SPEC)},
    "Role": {1: _META, 2: _RULES},
    "ClusterRole": {
        1: _META,
        2: _RULES,
        3: _f(
            "aggregationRule", "msg", {1: _f("clusterRoleSelectors", "msg", LABEL_SELECTOR, repeated=True)}
        ),
    },
    "RoleBinding": ROLE_BINDING,
    "ClusterRoleBinding": ROLE_BINDING,
    # kubectl auth can-i / whoami (k8s.io/api/authorization/v1 and authentication/v1 generated.proto)
    "SelfSubjectAccessReview": {1: _META, 2: _f("spec", "msg", REVIEW_ATTRIBUTES)},
    "SubjectAccessReview": {
        1: _META,
        2: _f(
            "spec",
            "msg",
            {
                **REVIEW_ATTRIBUTES,
                3: _f("user"),
                4: _f("groups", repeated=True),
                6: _f("uid"),
            },
        ),
    },
    "SelfSubjectReview": {1: _META},
    "PodDisruptionBudget": {
        1: _META,
        2: _f(
            "spec",
            "msg",
            {
                1: _f("minAvailable", "intorstr", INT_OR_STRING),
                2: _f("selector", "msg", LABEL_SELECTOR),
                3: _f("maxUnavailable", "intorstr", INT_OR_STRING),
                4: _f("unhealthyPodEvictionPolicy"),
            },
        ),
    },
    "CronJob": {
        1: _META,
        2: _f(
            "spec",
            "msg",
            {
                1: _f("schedule"),
                2: _f("startingDeadlineSeconds", "int?"),
                3: _f("concurrencyPolicy"),
                4: _f("suspend", "bool?"),
                5: _f(
                    "jobTemplate",
                    "msg",
                    {1: _f("metadata", "msg", OBJECT_META), 2: _f("spec", "msg", JOB_SPEC)},
                ),
                6: _f("successfulJobsHistoryLimit", "int?"),
                7: _f("failedJobsHistoryLimit", "int?"),
                8: _f("timeZone"),
            },
        ),
    },
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs; varints as int, length-delimited as bytes."""
    pos, result = 0, []
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            result.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            result.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return result


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(kind: str, sub: Any, value: int | bytes) -> Any:
    """The JSON value, or None where Go's omitempty would leave a non-pointer zero value out."""
    if kind in ("int", "int?"):
        number = _signed(int(value))  # type: ignore[arg-type]
        return None if number == 0 and kind == "int" else number
    if kind in ("bool", "bool?"):
        return bool(value) if value or kind == "bool?" else None
    if kind == "string":
        return bytes(value).decode() or None  # type: ignore[arg-type]
    if kind == "msg":
        return decode_message(bytes(value), sub)  # type: ignore[arg-type]
    if kind == "intorstr":
        parsed = decode_message(bytes(value), sub)  # type: ignore[arg-type]
        return parsed.get("strVal", "") if parsed.get("type") == 1 else parsed.get("intVal", 0)
    raise ValueError(f"unknown field kind {kind}")


def _map_entry(data: bytes, kind: str) -> tuple[str, Any]:
    entry = dict(_fields(data))
    key = bytes(entry.get(1, b"")).decode()  # type: ignore[arg-type]
    raw = bytes(entry.get(2, b""))  # type: ignore[arg-type]
    if kind == "bytesmap":
        return key, base64.b64encode(raw).decode()
    if kind == QUANTITY_MAP:
        return key, bytes(dict(_fields(raw)).get(1, b"")).decode()  # type: ignore[arg-type]
    return key, raw.decode()


def decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind, sub, repeated = schema[number]
        if kind in ("map", "bytesmap", QUANTITY_MAP):
            key, item = _map_entry(bytes(value), kind)  # type: ignore[arg-type]
            result.setdefault(name, {})[key] = item
        elif kind == "inline":
            result.update(decode_message(bytes(value), sub))  # type: ignore[arg-type]
        elif repeated:
            result.setdefault(name, []).append(_scalar(kind, sub, value) or "")
        else:
            scalar = _scalar(kind, sub, value)
            if scalar is not None:
                result[name] = scalar
    return result


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded object as the JSON object it stands for; 415 for kinds this sandbox cannot read."""
    if not body.startswith(_MAGIC):
        raise unsupported_media_type(PROTOBUF, ["application/json", "application/yaml"])
    envelope = dict(_fields(body[len(_MAGIC) :]))
    type_meta = decode_message(bytes(envelope.get(1, b"")), {1: _f("apiVersion"), 2: _f("kind")})  # type: ignore[arg-type]
    schema = KINDS.get(type_meta.get("kind", ""))
    if schema is None:
        raise unsupported_media_type(PROTOBUF, ["application/json", "application/yaml"])
    try:
        obj = decode_message(bytes(envelope.get(2, b"")), schema)  # type: ignore[arg-type]
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise unsupported_media_type(PROTOBUF, ["application/json", "application/yaml"]) from exc
    return {"apiVersion": type_meta.get("apiVersion"), "kind": type_meta.get("kind"), **obj}
