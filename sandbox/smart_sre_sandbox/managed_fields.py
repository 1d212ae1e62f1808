"""``metadata.managedFields``: which field manager set which fields, kept as kube-apiserver keeps them.

Every create, update and patch records the fields its manager set, in the FieldsV1 format, so that
``kubectl get --show-managed-fields``, Kopf, the ``kubernetes`` client and the operator's
``approved_by`` see what a real cluster shows. The rules are the apiserver's field manager
(k8s.io/apimachinery/pkg/util/managedfields) over structured-merge-diff's comparison of the old and
the new object:

- An Update takes the fields it added or changed; other managers lose them. Removed fields leave
  every manager, and entries left without fields are dropped. The writer's entry keeps its earlier
  fields, and its ``time`` moves only when the write took a field, so a no-op write changes nothing.
- A create is an Update compared against an empty object of the kind. An object whose entries are
  all gone is not tracked again until an Apply, as the server's ``skipNonApplied`` does.
- An Apply owns exactly the fields of its configuration.
- There is one entry per manager, operation and subresource (and apiVersion, for an Update), sorted
  as the server sorts them: Apply first, then by time. Status writes record ``subresource: status``;
  writes to the main resource never speak about a status that is a subresource.

Simplified, where a real server knows more: built-in kinds take their list keys from a table (the
strategic-merge keys, widened where server-side apply keys on more fields) rather than their OpenAPI
schemas; fields admission sets (defaults, tolerations, the service account) count as the writer's;
an Apply neither reports conflicts nor prunes the fields it stops applying; ``managedFields`` sent by
a client are ignored (a real server adopts them, and ``[]`` resets them); more than ten Update
managers are not folded into an ``ancient-changes`` entry.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from .errors import invalid, invalid_value, required, too_long
from .patching import merge_key
from .resources import ResourceType

UPDATE = "Update"
APPLY = "Apply"
MAX_MANAGER_LENGTH = 128  # FieldManagerMaxLength, in bytes
IN_PROCESS = "sandbox"  # the manager of the writes the sandbox's own simulation makes
_UNKNOWN = "unknown"  # what the server records for a write with no manager and no User-Agent

Fields = dict[str, Any]  # a FieldsV1 node: "f:"/"k:"/"v:" children; {} or a "." child marks a member

_MISSING = object()
_SCALARS = frozenset({str, int, float, bool})
# stripMetaManager: metadata the server sets, never owned by anyone (nor is "metadata" itself).
_SERVER_METADATA = frozenset(
    {
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    }
)
# metav1.LabelSelector is +structType=atomic; Service and ReplicationController selectors are plain maps.
_SELECTORS = frozenset({"selector", "labelSelector", "namespaceSelector", "podSelector"})
# So is metav1.OwnerReference: an owner's item is k:{"uid":...} with no fields of its own.
_ATOMIC_ITEMS = frozenset({("metadata", "ownerReferences")})
_MAP_SELECTOR_KINDS = frozenset({"Service", "ReplicationController"})
# Server-side apply keys some lists on more fields than strategic merge patch does.
_APPLY_KEYS: dict[str, tuple[str, ...]] = {
    "containerPort": ("containerPort", "protocol"),
    "port": ("port", "protocol"),
    "topologyKey": ("topologyKey", "whenUnsatisfiable"),
}
# A create is compared with an empty Go object of the kind: its non-pointer structs are already
# there, so they are not "added" (no "." marker), while a custom resource starts from nothing.
_POD_TEMPLATE: dict = {"metadata": {}, "spec": {"containers": None}}
_EMPTY_OBJECTS: dict[str, dict] = {
    "Pod": {"spec": {"containers": None}},
    "Deployment": {"spec": {"template": _POD_TEMPLATE, "strategy": {}}},
    "ReplicaSet": {"spec": {"template": _POD_TEMPLATE}},
    "StatefulSet": {"spec": {"template": _POD_TEMPLATE, "updateStrategy": {}}},
    "DaemonSet": {"spec": {"template": _POD_TEMPLATE, "updateStrategy": {}}},
    "Job": {"spec": {"template": _POD_TEMPLATE}},
    "CronJob": {"spec": {"jobTemplate": {"metadata": {}, "spec": {"template": _POD_TEMPLATE}}}},
}
_EMPTY_BUILTIN: dict = {"spec": {}}
_OPTIONS = {
    verb: ResourceType("meta.k8s.io", "v1", kind, kind.lower() + "s", namespaced=False)
    for verb, kind in (("create", "CreateOptions"), ("update", "UpdateOptions"), ("patch", "PatchOptions"))
}


@dataclass(frozen=True)
class Writer:
    """Who makes a write and how: an Update, or an Apply of the configuration ``applied``."""

    manager: str = IN_PROCESS
    subresource: str = ""  # "status", "scale", or "" for the object itself
    applied: dict | None = None

    @property
    def operation(self) -> str:
        return UPDATE if self.applied is None else APPLY


def manager_from_user_agent(user_agent: str) -> str:
    """prefixFromUserAgent: the product before the first "/", printable characters only, ≤ 128 bytes.

    ``OpenAPI-Generator/31.0.0/python`` (the kubernetes client) becomes ``OpenAPI-Generator``.
    """
    kept: list[str] = []
    size = 0
    for char in user_agent.split("/", 1)[0]:
        if not char.isprintable():
            continue
        width = len(char.encode())
        if size + width > MAX_MANAGER_LENGTH:
            break
        kept.append(char)
        size += width
    return "".join(kept)


def check_manager(verb: str, manager: str, *, apply: bool = False) -> None:
    """The ``fieldManager`` query parameter as the server validates it: 422 on the request's options."""
    causes = []
    if apply and not manager:
        causes.append(required("fieldManager", "is required for apply patch"))
    if len(manager.encode()) > MAX_MANAGER_LENGTH:
        causes.append(too_long("fieldManager", MAX_MANAGER_LENGTH))
    for index, char in enumerate(manager):
        if not char.isprintable():
            position = len(manager[:index].encode())
            detail = f"invalid character U+{ord(char):04X} (at position {position})"
            causes.append(invalid_value("fieldManager", manager, detail))
    if causes:
        raise invalid(_OPTIONS[verb], "", causes)


def track(
    rt: ResourceType, schema: dict | None, old: dict | None, new: dict, writer: Writer, now: str
) -> None:
    """Set ``new``'s managedFields for a write by ``writer`` (``old`` is None for a create).

    ``schema`` is a custom resource's openAPIV3Schema, None for a built-in kind.
    """
    meta = new["metadata"]
    entries: list[dict] = list(old["metadata"].get("managedFields") or ()) if old is not None else []
    if old is not None and not entries and writer.applied is None:
        meta.pop("managedFields", None)  # skipNonApplied: an untracked object stays untracked
        return
    shape = _Shape(rt.kind, schema)
    changed, removed = _changes(shape, rt, schema, old, new, writer.subresource)
    if changed is None and removed is None and writer.applied is None:
        if entries:
            meta["managedFields"] = entries
        return
    manager = writer.manager or _UNKNOWN
    identity = _identity(manager, writer.operation, rt.api_version, writer.subresource)
    mine: dict | None = None
    kept: list[dict] = []
    for entry in entries:
        if _identity_of(entry) == identity:
            mine = entry
            continue
        fields = _disown(entry["fieldsV1"], changed, removed)
        if fields is not None:
            kept.append(entry if fields is entry["fieldsV1"] else {**entry, "fieldsV1": fields})
    own = _own_entry(shape, rt, schema, writer, mine, changed, removed, now)
    if own is not None:
        kept.append(own)
    kept.sort(key=_order)
    if kept:
        meta["managedFields"] = kept
    else:
        meta.pop("managedFields", None)


def _changes(
    shape: _Shape, rt: ResourceType, schema: dict | None, old: dict | None, new: dict, scope: str
) -> tuple[Fields | None, Fields | None]:
    """(added or changed, removed) fields of a write; a create compares with an empty object."""
    if old is None:
        empty = {} if schema is not None else _EMPTY_OBJECTS.get(rt.kind, _EMPTY_BUILTIN)
        before = _tracked(empty, scope, rt.has_status)
    else:
        before = _tracked(old, scope, rt.has_status)
    changed, removed = shape.compare_maps((), schema, before, _tracked(new, scope, rt.has_status))
    return _owned(changed), _owned(removed) if old is not None else None


def _own_entry(
    shape: _Shape,
    rt: ResourceType,
    schema: dict | None,
    writer: Writer,
    mine: dict | None,
    changed: Fields | None,
    removed: Fields | None,
    now: str,
) -> dict | None:
    """The writer's entry after the write; its time moves to ``now`` when the write took a field.

    An Update keeps what it owned (less what the write removed) and adds what it changed; an Apply
    owns its configuration.
    """
    if writer.applied is None:
        fields = _disown(mine["fieldsV1"], None, removed) if mine is not None else None
        if changed is not None:
            fields = changed if fields is None else _union(fields, changed)
        moved = changed is not None
    else:
        config = _tracked(writer.applied, writer.subresource, rt.has_status)
        fields = _owned(shape.all_fields((), schema, config, maps=False))
        moved = changed is not None or removed is not None or mine is None or fields != mine["fieldsV1"]
    if fields is None:
        return None
    entry = {
        "manager": writer.manager or _UNKNOWN,
        "operation": writer.operation,
        "apiVersion": rt.api_version,
        "time": now if moved or mine is None else mine["time"],
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if writer.subresource:
        entry["subresource"] = writer.subresource
    return entry


def _identity(manager: str, operation: str, api_version: str, subresource: str) -> tuple[str, str, str, str]:
    """BuildManagerIdentifier: an Apply's entry is the same whatever version it was applied through."""
    return (manager, operation, api_version if operation == UPDATE else "", subresource)


def _identity_of(entry: dict) -> tuple[str, str, str, str]:
    return _identity(entry["manager"], entry["operation"], entry["apiVersion"], entry.get("subresource", ""))


def _order(entry: dict) -> tuple[str, str, str, str, str]:
    return (
        entry["operation"],
        entry.get("time") or "",
        entry["manager"],
        entry["apiVersion"],
        entry.get("subresource", ""),
    )


def _tracked(obj: dict, subresource: str, has_status: bool) -> dict:
    """The part of an object a write's fields are about: status for a status write, else the rest."""
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    tracked = {
        key: value
        for key, value in obj.items()
        if key not in ("apiVersion", "kind", "metadata") and not (key == "status" and has_status)
    }
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        owned = {key: value for key, value in meta.items() if key not in _SERVER_METADATA}
        if owned:
            tracked["metadata"] = owned
    return tracked


def _owned(fields: Fields | None) -> Fields | None:
    """A root set without "metadata" as a member of its own (the server strips it)."""
    if not fields:
        return None
    meta = fields.get("f:metadata")
    if meta is None or not _is_member(meta):
        return fields
    fields = dict(fields)
    if meta == {}:
        del fields["f:metadata"]
    else:
        fields["f:metadata"] = {key: value for key, value in meta.items() if key != "."}
    return fields or None


# -- field sets (fieldpath.Set over the FieldsV1 encoding; sets are never modified in place) ---------


def _is_member(fields: Fields) -> bool:
    return not fields or "." in fields


def _disown(fields: Fields, changed: Fields | None, removed: Fields | None) -> Fields | None:
    """What a manager keeps: its fields less those this write took or removed."""
    kept: Fields | None = fields
    for gone in (changed, removed):
        if gone is not None and kept is not None:
            kept = _difference(kept, gone)
    return kept


def _difference(fields: Fields, gone: Fields) -> Fields | None:
    """``fields`` without the members of ``gone``; children of a removed member stay (Set.Difference)."""
    drop_self = _is_member(gone) and _is_member(fields)
    if not fields:
        return None if drop_self else fields
    result = fields
    for key, other in gone.items():
        child = fields.get(key)
        if key == "." or child is None:
            continue
        rest = _difference(child, other)
        if rest is child:
            continue
        if result is fields:
            result = dict(fields)
        if rest is None:
            del result[key]
        else:
            result[key] = rest
    if drop_self and "." in result:
        if result is fields:
            result = dict(fields)
        del result["."]
    if result is fields:
        return fields
    if not result:
        return None
    return {} if len(result) == 1 and "." in result else result


def _union(fields: Fields, more: Fields) -> Fields:
    if not more:
        return fields if _is_member(fields) else {".": {}, **fields}
    if not fields:
        return more if "." in more else {".": {}, **more}
    result = dict(fields)
    for key, child in more.items():
        mine = result.get(key)
        if mine is None:
            result[key] = child
        elif key != ".":
            result[key] = _union(mine, child)
    return result


def _node(member: bool, children: Fields) -> Fields | None:
    if not children:
        return {} if member else None
    return {".": {}, **children} if member else children


def _as_member(fields: Fields | None) -> Fields:
    if not fields:
        return {}
    return fields if "." in fields else {".": {}, **fields}


@functools.cache
def _builtin_list_keys(kind: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
    key = merge_key(kind, path)
    if key is None:
        return None
    return _APPLY_KEYS.get(key, (key,)) if key else ()  # sorted, as k:{...} spells them


def _json(value: Any) -> str:
    """Compact JSON with sorted keys, as path elements spell values; strings take the fast path."""
    if type(value) is str:
        return encode_basestring(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _Shape:
    """What a kind's schema says of a field: a granular or atomic map, and how a list's items are keyed.

    A field is named by its path of field names (list items share their list's path) and, for a
    custom resource, by its structural schema; metadata follows the built-in rules for every kind.
    """

    def __init__(self, kind: str, schema: dict | None) -> None:
        self.kind = kind
        self.custom = schema is not None

    def _by_schema(self, path: tuple[str, ...]) -> bool:
        return self.custom and path[0] != "metadata"

    @staticmethod
    def child(schema: dict | None, key: str) -> dict | None:
        if schema is None:
            return None
        properties = schema.get("properties")
        if properties and key in properties:
            return properties[key]
        extra = schema.get("additionalProperties")
        return extra if isinstance(extra, dict) else None

    def atomic_map(self, path: tuple[str, ...], schema: dict | None) -> bool:
        if self._by_schema(path):
            return (schema or {}).get("x-kubernetes-map-type") == "atomic"
        if path[-1] not in _SELECTORS:
            return path in _ATOMIC_ITEMS
        return not (path == ("spec", "selector") and self.kind in _MAP_SELECTOR_KINDS)

    def list_keys(self, path: tuple[str, ...], schema: dict | None) -> tuple[str, ...] | None:
        """The key fields of an associative list, () for a set of scalars, None for an atomic list."""
        if self._by_schema(path):
            schema = schema or {}
            list_type = schema.get("x-kubernetes-list-type")
            if list_type == "map":
                return tuple(sorted(schema.get("x-kubernetes-list-map-keys") or ())) or None
            return () if list_type == "set" else None
        return _builtin_list_keys(self.kind, path)

    def elements(self, path: tuple[str, ...], schema: dict | None, items: list) -> dict[str, Any] | None:
        """A granular list's items by path element (k:{...} or v:...); None when it is atomic."""
        keys = self.list_keys(path, schema)
        if keys is None:
            return None
        result: dict[str, Any] = {}
        if not keys:
            for item in items:
                if isinstance(item, dict | list):
                    return None
                result["v:" + _json(item)] = item
            return result
        for item in items:
            if not isinstance(item, dict):
                return None
            present = [f'"{key}":{_json(item[key])}' for key in keys if item.get(key) is not None]
            element = "k:{" + ",".join(present) + "}"
            if not present or element in result:
                return None  # an item without its key, or a duplicate key: the list is treated as atomic
            result[element] = item
        return result

    def all_fields(
        self, path: tuple[str, ...], schema: dict | None, value: Any, *, maps: bool
    ) -> Fields | None:
        """Every field of a value: with ``maps``, as added by an Update (maps and lists are members
        too); without, as an Apply configuration's set (only leaves, list items and empty maps are)."""
        if isinstance(value, dict) and not (path and self.atomic_map(path, schema)):
            children = {}
            for key, member in value.items():
                if type(member) is not dict and type(member) is not list:
                    children["f:" + key] = {}
                    continue
                fields = self.all_fields((*path, key), self.child(schema, key), member, maps=maps)
                if fields is not None:
                    children["f:" + key] = fields
            return _node(maps or not value, children)
        if isinstance(value, list):
            elements = self.elements(path, schema, value)
            if elements is not None:
                items = (schema or {}).get("items")
                children = {
                    element: _as_member(self.all_fields(path, items, item, maps=maps))
                    for element, item in elements.items()
                }
                return _node(maps, children)
        return {}

    def compare_maps(
        self, path: tuple[str, ...], schema: dict | None, old: dict, new: dict
    ) -> tuple[Fields | None, Fields | None]:
        """(added or changed, removed) fields between two granular maps; only differing members are walked."""
        return self._compare_members(
            old, new, lambda key: ("f:" + key, (*path, key), self.child(schema, key)), lambda fields: fields
        )

    def compare(
        self, path: tuple[str, ...], schema: dict | None, old: Any, new: Any
    ) -> tuple[Fields | None, Fields | None]:
        """Two unequal values of one field: a granular map or list is walked, anything else changed whole."""
        if (
            isinstance(old, dict | None)
            and isinstance(new, dict | None)
            and not self.atomic_map(path, schema)
        ):
            return self.compare_maps(path, schema, old or {}, new or {})
        if isinstance(old, list | None) and isinstance(new, list | None):
            old_elements = self.elements(path, schema, old or [])
            new_elements = self.elements(path, schema, new or []) if old_elements is not None else None
            if new_elements is not None and old_elements is not None:
                return self._compare_elements(path, (schema or {}).get("items"), old_elements, new_elements)
        return {}, None

    def _compare_elements(
        self, path: tuple[str, ...], items: dict | None, old: dict[str, Any], new: dict[str, Any]
    ) -> tuple[Fields | None, Fields | None]:
        return self._compare_members(old, new, lambda element: (element, path, items), _as_member)

    def _compare_members(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        member: Callable[[str], tuple[str, tuple[str, ...], dict | None]],
        whole: Callable[[Fields | None], Fields | None],
    ) -> tuple[Fields | None, Fields | None]:
        """Map fields and list elements alike: `member` names a key's field, path and schema."""
        changed: Fields = {}
        removed: Fields = {}
        for key, value in new.items():
            before = old.get(key, _MISSING)
            if before == value:
                continue
            name, path, schema = member(key)
            if before is _MISSING:
                changed[name] = whole(self.all_fields(path, schema, value, maps=True))
            elif type(value) in _SCALARS and type(before) in _SCALARS:
                changed[name] = {}  # the common case, without walking the schema
            else:
                more, gone = self.compare(path, schema, before, value)
                if more is not None:
                    changed[name] = more
                if gone is not None:
                    removed[name] = gone
        for key, value in old.items():
            if key not in new:
                name, path, schema = member(key)
                removed[name] = whole(self.all_fields(path, schema, value, maps=True))
        return changed or None, removed or None
