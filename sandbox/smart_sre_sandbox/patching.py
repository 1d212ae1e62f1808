"""The PATCH content types: RFC 6902 JSON Patch, RFC 7386 merge patch and strategic merge patch.

Strategic merge uses the ``patchMergeKey`` / ``patchStrategy`` tags of the built-in Go types (the ones
kubectl's three-way patches rely on); custom resources do not support it, as on a real server.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from .errors import ApiError, bad_request, unsupported_media_type
from .resources import ResourceType

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Lists merged by key; the tuple is a path suffix of field names, matched innermost first.
# A key of "" means a list of scalars merged as a set (patchStrategy=merge without a key).
_POD_SPEC_LISTS: dict[tuple[str, ...], str] = {
    ("containers",): "name",
    ("initContainers",): "name",
    ("ephemeralContainers",): "name",
    ("containers", "env"): "name",
    ("initContainers", "env"): "name",
    ("containers", "ports"): "containerPort",
    ("initContainers", "ports"): "containerPort",
    ("containers", "volumeMounts"): "mountPath",
    ("initContainers", "volumeMounts"): "mountPath",
    ("containers", "volumeDevices"): "devicePath",
    ("containers", "resizePolicy"): "resourceName",
    ("volumes",): "name",
    ("imagePullSecrets",): "name",
    ("hostAliases",): "ip",
    ("topologySpreadConstraints",): "topologyKey",
    ("resourceClaims",): "name",
    ("schedulingGates",): "name",
}
_COMMON_LISTS: dict[tuple[str, ...], str] = {
    ("metadata", "finalizers"): "",
    ("metadata", "ownerReferences"): "uid",
    ("status", "conditions"): "type",
}
_KIND_LISTS: dict[str, dict[tuple[str, ...], str]] = {
    "Service": {("spec", "ports"): "port"},
    "Node": {("spec", "taints"): "key", ("status", "addresses"): "type"},
    "Pod": {("status", "podIPs"): "ip"},
}
_POD_SPEC_PREFIXES: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    """The merge key of the list at ``path`` (field names, list indices dropped); None: replace."""
    if path in _COMMON_LISTS:
        return _COMMON_LISTS[path]
    if path in _KIND_LISTS.get(kind, {}):
        return _KIND_LISTS[kind][path]
    prefix = _POD_SPEC_PREFIXES.get(kind)
    if prefix and path[: len(prefix)] == prefix:
        return _POD_SPEC_LISTS.get(path[len(prefix) :])
    return None


def apply_patch(rt: ResourceType, obj: dict, patch_type: str, body: Any, *, builtin: bool = True) -> dict:
    """Return ``obj`` with the patch applied; ``obj`` itself is left untouched."""
    content_type = patch_type.split(";")[0].strip()
    accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] + ([STRATEGIC_MERGE_PATCH] if builtin else [])
    if content_type not in accepted:
        raise unsupported_media_type(content_type, accepted)
    if content_type == JSON_PATCH:
        return json_patch(obj, body)
    if not isinstance(body, dict):
        raise bad_request(
            f"the body of the request was in an unknown format: expected a JSON object for {content_type}"
        )
    if content_type in (MERGE_PATCH, APPLY_PATCH):
        return merge_patch(obj, body)
    return strategic_merge_patch(rt.kind, obj, body)


def json_patch(obj: dict, operations: Any) -> dict:
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        return jsonpatch.JsonPatch(operations).apply(obj, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, TypeError) as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(kind: str, obj: dict, patch: dict) -> dict:
    return _merge_map(kind, (), obj, patch)


def _merge_map(kind: str, path: tuple[str, ...], original: Any, patch: dict) -> dict:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = _merge_map(kind, (*path, key), result.get(key), value)
        elif isinstance(value, list):
            result[key] = _merge_list(kind, (*path, key), result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(kind: str, path: tuple[str, ...], original: Any, patch: list) -> list:
    key = merge_key(kind, path)
    current = copy.deepcopy(original) if isinstance(original, list) else []
    if key is None:
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [p for p in patch if not (isinstance(p, dict) and "$patch" in p)]
        return copy.deepcopy(patch)
    if key == "":
        return current + [v for v in patch if v not in current]
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(
                f"unable to find api field in struct for the list {'.'.join(path)}: expected objects"
            )
        directive = item.get("$patch")
        if directive == "replace":
            return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        index = next(
            (i for i, c in enumerate(current) if isinstance(c, dict) and c.get(key) == item[key]), None
        )
        if directive == "delete":
            if index is not None:
                current.pop(index)
        elif index is None:
            current.append({k: v for k, v in copy.deepcopy(item).items() if v is not None})
        else:
            current[index] = _merge_map(kind, path, current[index], item)
    return current
