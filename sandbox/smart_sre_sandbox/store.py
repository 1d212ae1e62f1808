"""The in-memory object store: what etcd plus the generic registry are to a real API server.

It owns resourceVersions, uids, generations, finalizers, deletion and watch fan-out. Every public
method is a coroutine for callers, but each mutation runs to completion without awaiting, so the
store is consistent for the single event loop it lives on.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from . import defaults, garbage, managed_fields, schemas, validation
from .crds import CustomResources, established_status
from .errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    expired,
    forbidden,
    forbidden_field,
    invalid,
    not_found,
    required,
    strict_decoding,
)
from .managed_fields import IN_PROCESS, Writer
from .patching import APPLY_PATCH, JSON_PATCH, apply_patch
from .resources import BUILTIN_TYPES, INITIAL_NAMESPACES, ResourceType
from .selectors import (
    FieldSelector,
    LabelSelector,
    check_field_labels,
    parse_field_selector,
    parse_label_selector,
)

logger = logging.getLogger(__name__)

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")
_API_SERVER = Writer("kube-apiserver")  # the manager a real cluster records for its initial namespaces
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class WatchEvent(NamedTuple):
    type: str  # "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"
    object: dict


class _Change(NamedTuple):
    rv: int
    key: tuple[str, str]
    type: str
    object: dict
    old: dict | None


@dataclass(eq=False)
class _Subscriber:
    rt: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)

    def matches(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.labels.matches(obj) and self.fields.matches(obj)

    def event_type(self, change: _Change) -> str | None:
        """The event this watcher sees: objects entering or leaving its selector are ADDED or DELETED."""
        now, before = self.matches(change.object), self.matches(change.old)
        if change.type == "MODIFIED":
            return "MODIFIED" if now and before else "ADDED" if now else "DELETED" if before else None
        return change.type if now else None

    def translate(self, change: _Change) -> WatchEvent | None:
        kind = self.event_type(change)
        return None if kind is None else WatchEvent(kind, view(self.rt, change.object))


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, immutable leaves), ~3.5x faster than copy.deepcopy.

    Every read and every watch event copies whole objects, so with 1,000s of pods this is the
    sandbox's hottest path.
    """
    if type(value) is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if type(value) is list:
        return [copy_json(item) for item in value]
    return value


def view(rt: ResourceType, obj: dict, *, managed_fields: bool = True) -> dict:
    """A copy of a stored object to hand out; without ``managed_fields``, one with none.

    managedFields entries are copied but their fieldsV1 trees are shared: they are as large as the
    rest of the object, and neither the store (managed_fields builds new sets) nor a reader changes
    one in place.
    """
    result = {}
    for key, value in obj.items():
        if key != "metadata":
            result[key] = copy_json(value)
            continue
        meta = result[key] = {}
        for field_name, member in value.items():
            if field_name != "managedFields":
                meta[field_name] = copy_json(member)
            elif managed_fields:
                meta[field_name] = [dict(entry) for entry in member]
    result["apiVersion"] = rt.api_version
    result["kind"] = rt.kind
    return result


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Objects by (group, plural) then (namespace, name); namespace is "" for cluster-scoped kinds."""

    def __init__(self, *, history_limit: int = 10000, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.crds = CustomResources()
        self._types: list[ResourceType] = list(BUILTIN_TYPES)
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._rv = 0
        self._history: deque[_Change] = deque(maxlen=history_limit)
        self._history_floor = 0  # every change after this resourceVersion is still in _history
        self._subscribers: list[_Subscriber] = []
        namespaces = self.resource("namespaces")
        for name in INITIAL_NAMESPACES:
            self._create(namespaces, {"metadata": {"name": name}}, dry_run=False, writer=_API_SERVER)

    # -- resource types -------------------------------------------------------------------------

    def resource(self, name: str, group: str | None = None) -> ResourceType:
        """Resolve ``pods``, ``Pod``, ``po``, ``deployments.apps`` or a CRD's names to its served type."""
        for rt in self._types:
            if (group is None or rt.group == group) and rt.matches(name):
                return rt
        raise ApiError(404, "NotFound", f'the server doesn\'t have a resource type "{name}"')

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at /apis/{group}/{version}/{plural}, if any."""
        for rt in self._types:
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def resource_types(self) -> list[ResourceType]:
        return list(self._types)

    def is_custom(self, rt: ResourceType) -> bool:
        return self.crds.schema_for(rt) is not None

    @property
    def resource_version(self) -> str:
        """The latest resourceVersion handed out."""
        return str(self._rv)

    def now(self) -> str:
        return rfc3339(self.clock())

    def selectors(
        self, rt: ResourceType, label_selector: str | None, field_selector: str | None
    ) -> tuple[LabelSelector, FieldSelector]:
        """Parsed selectors; malformed ones and field labels the kind does not support are a 400."""
        fields = parse_field_selector(field_selector)
        check_field_labels("" if self.is_custom(rt) else rt.kind, fields)
        return parse_label_selector(label_selector), fields

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict:
        return view(rt, self._get_raw(rt, namespace, name))

    async def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict], str]:
        labels, fields = self.selectors(rt, label_selector, field_selector)
        items = [
            view(rt, obj)
            for (ns, _), obj in sorted(self._bucket(rt).items())
            if (not namespace or ns == namespace) and labels.matches(obj) and fields.matches(obj)
        ]
        return items, self.resource_version

    async def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        bookmark_interval: float | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version``; unset or "0" starts with ADDED for every current object.

        With ``bookmark_interval``, a quiet stream yields BOOKMARK events carrying the latest
        resourceVersion, as the real server does for ``allowWatchBookmarks``.
        """
        sub = _Subscriber(rt, namespace, *self.selectors(rt, label_selector, field_selector))
        if resource_version in (None, "", "0"):
            initial = [
                WatchEvent("ADDED", view(rt, o))
                for _, o in sorted(self._bucket(rt).items())
                if sub.matches(o)
            ]
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise bad_request(f'invalid resource version "{resource_version}"') from None
            if since < self._history_floor:
                raise expired(f"too old resource version: {since} ({self._history_floor + 1})")
            changes = [c for c in self._history if c.rv > since and c.key == rt.key]
            initial = [e for e in (sub.translate(c) for c in changes) if e is not None]
        self._subscribers.append(sub)
        try:
            for event in initial:
                yield event
            while True:
                try:
                    # asyncio.timeout, unlike wait_for on 3.11, never swallows a cancellation.
                    async with asyncio.timeout(bookmark_interval):
                        event = await sub.queue.get()
                except TimeoutError:
                    event = WatchEvent(
                        "BOOKMARK",
                        {
                            "kind": rt.kind,
                            "apiVersion": rt.api_version,
                            "metadata": {"resourceVersion": self.resource_version},
                        },
                    )
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.remove(sub)

    def close_watches(self) -> int:
        """End every open watch stream (clients see the connection close and must re-watch)."""
        for sub in self._subscribers:
            sub.queue.put_nowait(None)
        return len(self._subscribers)

    def compact(self) -> None:
        """Forget the watch history, as etcd compaction does: older resourceVersions now get 410 Gone."""
        if self._history:
            self._history_floor = self._history[-1].rv
            self._history.clear()

    # -- writes ----------------------------------------------------------------------------------

    async def create(
        self,
        rt: ResourceType,
        obj: dict,
        *,
        dry_run: bool = False,
        field_validation: str | None = None,
        field_manager: str = IN_PROCESS,
    ) -> dict:
        """``field_validation="Strict"`` rejects fields a custom resource's schema does not declare.

        ``field_manager`` is who managedFields records as the writer (here and in update and patch).
        """
        return self._create(
            rt, obj, dry_run=dry_run, strict=field_validation == "Strict", writer=Writer(field_manager)
        )

    async def update(
        self,
        rt: ResourceType,
        obj: dict,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str | None = None,
        field_manager: str = IN_PROCESS,
    ) -> dict:
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise bad_request("Object 'metadata' is missing in the request body")
        meta = obj["metadata"]
        existing = self._get_raw(rt, meta.get("namespace"), meta.get("name") or "")
        stale = meta.get("resourceVersion")
        if stale and stale != existing["metadata"]["resourceVersion"]:
            raise conflict(rt, existing["metadata"]["name"])
        self._check_strict(rt, obj, field_validation == "Strict")
        merged = self._merge(rt, existing, obj, subresource)
        return self._commit(
            rt, existing, merged, dry_run=dry_run, writer=Writer(field_manager, subresource or "")
        )

    async def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str | None = None,
        field_manager: str = IN_PROCESS,
    ) -> dict:
        """``subresource="scale"`` is a write of spec.replicas recorded as the scale subresource's."""
        strict = field_validation == "Strict"
        apply = patch_type.startswith(APPLY_PATCH)
        configuration = (body if isinstance(body, dict) else {}) if apply else None
        writer = Writer(field_manager, subresource or "", configuration)
        if apply and self._lookup(rt, namespace, name) is None:
            applied = copy.deepcopy(body) if isinstance(body, dict) else {}
            applied.setdefault("metadata", {}).update({"name": name, "namespace": namespace})
            return self._create(rt, applied, dry_run=dry_run, strict=strict, writer=writer)
        existing = self._get_raw(rt, namespace, name)
        # Only a JSON patch can address managedFields (to no effect, see _merge): others skip copying them.
        source = view(rt, existing, managed_fields=patch_type.startswith(JSON_PATCH))
        patched = apply_patch(rt, source, patch_type, body, builtin=not self.is_custom(rt))
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise bad_request("the patch would remove the object's metadata")
        wanted = patched["metadata"].get("resourceVersion")
        if wanted and wanted != existing["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        patched["metadata"]["name"] = name
        self._check_strict(rt, patched, strict)
        merged = self._merge(rt, existing, patched, subresource)
        return self._commit(rt, existing, merged, dry_run=dry_run, writer=writer)

    async def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str = "Background",
        dry_run: bool = False,
        grace_period_seconds: int | None = None,
    ) -> dict:
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise bad_request(f'propagationPolicy: Unsupported value: "{propagation}"')
        existing = self._get_raw(rt, namespace, name)
        if dry_run:
            return view(rt, existing)
        return self._delete(rt, existing, propagation, grace_period_seconds)

    async def bind(self, namespace: str, name: str, node: str) -> dict:
        """The pods/binding subresource: set spec.nodeName once and mark the pod scheduled."""
        pods = self.resource("pods")
        existing = self._get_raw(pods, namespace, name)
        if existing["spec"].get("nodeName"):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is already assigned to node '
                f'"{existing["spec"]["nodeName"]}"',
            )
        bound = copy.deepcopy(existing)
        bound["spec"]["nodeName"] = node
        conditions = [
            c for c in (bound.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": self.now(),
            }
        )
        bound.setdefault("status", {})["conditions"] = conditions
        return self._commit(pods, existing, bound, dry_run=False, writer=None)  # untracked, as for real

    # -- internals -------------------------------------------------------------------------------

    def _bucket(self, rt: ResourceType) -> dict[tuple[str, str], dict]:
        return self._objects.setdefault(rt.key, {})

    def _namespace_of(self, rt: ResourceType, namespace: str | None) -> str:
        return (namespace or "default") if rt.namespaced else ""

    def _lookup(self, rt: ResourceType, namespace: str | None, name: str) -> dict | None:
        return self._bucket(rt).get((self._namespace_of(rt, namespace), name))

    def _get_raw(self, rt: ResourceType, namespace: str | None, name: str) -> dict:
        obj = self._lookup(rt, namespace, name)
        if obj is None:
            raise not_found(rt, name)
        return obj

    def stored(self, rt: ResourceType) -> dict[tuple[str, str], dict]:
        """The stored objects of a kind by (namespace, name), not copies: for `ViewCache` alone.

        A write replaces an object's dict and never changes one in place, so identity tells a change.
        """
        return self._bucket(rt)

    def objects(self) -> list[tuple[ResourceType, dict]]:
        """Stored objects (not copies) with their preferred type, for garbage collection and namespace cleanup."""
        preferred: dict[tuple[str, str], ResourceType] = {}
        for rt in self._types:
            preferred.setdefault(rt.key, rt)
        return [(rt, obj) for key, rt in preferred.items() for obj in self._objects.get(key, {}).values()]

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _emit(self, rt: ResourceType, kind: str, obj: dict, old: dict | None) -> None:
        change = _Change(int(obj["metadata"]["resourceVersion"]), rt.key, kind, obj, old)
        if len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0].rv
        self._history.append(change)
        # One copy per change, shared by its watchers (they only encode it), not one per watcher.
        views: dict[str, dict] = {}
        for sub in self._subscribers:
            if sub.rt.key == rt.key and (kind := sub.event_type(change)) is not None:
                shared = views.get(sub.rt.api_version)
                if shared is None:
                    shared = views[sub.rt.api_version] = view(sub.rt, change.object)
                sub.queue.put_nowait(WatchEvent(kind, shared))

    def unknown_fields(self, rt: ResourceType, obj: dict) -> list[str]:
        """Paths of fields the kind does not declare (the server drops them unless validation is Strict)."""
        if self.is_custom(rt):
            return self.crds.unknown_fields(rt, obj)
        return schemas.decode(rt, obj)[1]

    def _check_strict(self, rt: ResourceType, obj: dict, strict: bool) -> None:
        if strict and (unknown := self.unknown_fields(rt, obj)):
            raise strict_decoding(rt, unknown)

    def _create(
        self, rt: ResourceType, obj: Any, *, dry_run: bool, writer: Writer, strict: bool = False
    ) -> dict:
        if not isinstance(obj, dict):
            raise bad_request(f"the body of the request is not a {rt.kind} object")
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if rt.namespaced:
            namespace = meta["namespace"] = meta.get("namespace") or "default"
            ns = self._bucket(self.resource("namespaces")).get(("", namespace))
            if ns is None:
                raise not_found(self.resource("namespaces"), namespace)
            if ns["metadata"].get("deletionTimestamp"):
                raise forbidden(
                    rt,
                    meta.get("name") or meta.get("generateName", ""),
                    f"unable to create new content in namespace {namespace} because it is being terminated",
                )
        else:
            meta.pop("namespace", None)
            namespace = ""
        if not meta.get("name") and meta.get("generateName"):
            while True:
                meta["name"] = meta["generateName"] + "".join(random.choices(_NAME_ALPHABET, k=5))
                if (namespace, meta["name"]) not in self._bucket(rt):
                    break
        if not meta.get("name"):
            raise invalid(rt, "", [required("metadata.name", "name or generateName is required")])
        for transient in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
        ):
            meta.pop(transient, None)
        meta["uid"] = str(uuid.uuid4())  # before admission: a Job's generated selector names it
        self._check_strict(rt, obj, strict)
        obj = self._admit(rt, obj, None)
        if (namespace, meta["name"]) in self._bucket(rt):
            raise already_exists(rt, meta["name"])
        meta = obj["metadata"]
        meta.update(creationTimestamp=self.now(), generation=1)
        managed_fields.track(rt, self.crds.schema_for(rt), None, obj, writer, meta["creationTimestamp"])
        meta["resourceVersion"] = self._next_rv() if not dry_run else self.resource_version
        if rt.key == CRD_KEY:
            obj["status"] = established_status(obj)
        if dry_run:
            return view(rt, obj)
        self._bucket(rt)[(namespace, meta["name"])] = obj
        self._emit(rt, "ADDED", obj, None)
        if rt.key == CRD_KEY:
            self._sync_crd(obj, None)
        logger.debug(
            "created", extra={"resource": rt.plural, "namespace": namespace, "object_name": meta["name"]}
        )
        return view(rt, obj)

    def _admit(self, rt: ResourceType, obj: dict, old: dict | None) -> dict:
        """Defaulting and validation: built-in rules, or the CRD's structural schema."""
        if self.is_custom(rt):
            if old is None and rt.has_status:
                obj.pop("status", None)  # a create never sets status when it is a subresource
            causes = validation.validate_metadata(rt, obj["metadata"])
            if causes:
                raise invalid(rt, obj["metadata"].get("name", ""), causes)
            return self.crds.admit(rt, obj, old)
        obj = schemas.decode(rt, obj)[0]
        if old is None:
            defaults.prepare_for_create(rt, obj)
        else:
            defaults.prepare_for_update(rt, obj, old)
        defaults.apply(rt, obj)
        causes = validation.validate(rt, obj, old)
        if causes:
            raise invalid(rt, obj["metadata"].get("name", ""), causes)
        return obj

    def _merge(self, rt: ResourceType, existing: dict, incoming: dict, subresource: str | None) -> dict:
        """The object an update leaves: status writes touch only status, spec writes never touch status.

        It carries no managedFields: managed_fields.track derives them from ``existing``, whatever the
        client sent (see managed_fields).
        """
        if subresource not in (None, "status", "scale"):
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource ({subresource})"
            )
        if subresource == "status":
            merged = {}
            for key, value in existing.items():
                if key == "metadata":
                    merged[key] = copy_json(_unmanaged(value))
                elif key != "status":
                    merged[key] = copy_json(value)
                elif "status" in incoming:
                    merged[key] = copy_json(incoming["status"])
            if "status" in incoming and "status" not in merged:
                merged["status"] = copy_json(incoming["status"])
            return merged
        merged = {key: copy_json(_unmanaged(v) if key == "metadata" else v) for key, v in incoming.items()}
        merged["apiVersion"], merged["kind"] = existing["apiVersion"], existing["kind"]
        if rt.has_status:
            if "status" in existing:
                merged["status"] = copy_json(existing["status"])
            else:
                merged.pop("status", None)
        meta = merged["metadata"]
        for kept in (
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
        ):
            if kept in existing["metadata"]:
                meta[kept] = existing["metadata"][kept]
            else:
                meta.pop(kept, None)
        return merged

    def _commit(
        self, rt: ResourceType, existing: dict, new: dict, *, dry_run: bool, writer: Writer | None
    ) -> dict:
        """Admit and store an update; ``writer`` None leaves managedFields as they were (a binding)."""
        new = self._admit(rt, new, existing)
        if existing["metadata"].get("deletionTimestamp"):
            added = set(new["metadata"].get("finalizers") or []) - set(
                existing["metadata"].get("finalizers") or []
            )
            if added:
                listed = ", ".join(f'"{f}"' for f in sorted(added))
                detail = f"no new finalizers can be added if the object is being deleted, found new finalizers []string{{{listed}}}"
                raise invalid(
                    rt, existing["metadata"]["name"], [forbidden_field("metadata.finalizers", detail)]
                )
        if writer is not None:
            managed_fields.track(rt, self.crds.schema_for(rt), existing, new, writer, self.now())
        if _unchanged(new, existing):
            return view(rt, existing)
        if _spec_of(rt, new) != _spec_of(rt, existing):
            new["metadata"]["generation"] = int(existing["metadata"].get("generation") or 1) + 1
        if dry_run:
            return view(rt, new)
        new["metadata"]["resourceVersion"] = self._next_rv()
        meta = new["metadata"]
        key = (meta.get("namespace", "") if rt.namespaced else "", meta["name"])
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(rt, key, new, existing)
        else:
            self._bucket(rt)[key] = new
            self._emit(rt, "MODIFIED", new, existing)
            if rt.key == CRD_KEY:
                self._sync_crd(new, existing)
        return view(rt, new)

    def _delete(self, rt: ResourceType, existing: dict, propagation: str, grace: int | None) -> dict:
        meta = existing["metadata"]
        key = (meta.get("namespace", "") if rt.namespaced else "", meta["name"])
        if propagation == "Orphan":
            garbage.orphan(self, meta["uid"])
        if rt.key == NAMESPACE_KEY:
            return self._delete_namespace(rt, existing)
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Foreground" and garbage.dependents(self, meta["uid"]):
            finalizers = (
                [*finalizers, "foregroundDeletion"] if "foregroundDeletion" not in finalizers else finalizers
            )
        if finalizers:
            if meta.get("deletionTimestamp") and finalizers == meta.get("finalizers"):
                return view(rt, existing)
            marked = copy.deepcopy(existing)
            marked["metadata"]["finalizers"] = finalizers
            marked["metadata"].setdefault("deletionTimestamp", self.now())
            marked["metadata"].setdefault("deletionGracePeriodSeconds", grace if grace is not None else 0)
            marked["metadata"]["resourceVersion"] = self._next_rv()
            self._bucket(rt)[key] = marked
            self._emit(rt, "MODIFIED", marked, existing)
            if "foregroundDeletion" in finalizers:
                garbage.collect(self, marked, "Foreground")
            return view(rt, marked)
        gone = copy.deepcopy(existing)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._remove(rt, key, gone, existing)
        return view(rt, gone)

    def _remove(self, rt: ResourceType, key: tuple[str, str], final: dict, old: dict) -> None:
        """Drop an object for good, then let garbage collection and namespace cleanup follow."""
        self._bucket(rt).pop(key, None)
        self._emit(rt, "DELETED", final, old)
        if rt.key == CRD_KEY:
            self._sync_crd(None, old)
        garbage.collect(self, final, "Background")
        garbage.release_owners(self, final)
        if key[0]:
            self._finish_namespace(key[0])

    def _delete_namespace(self, rt: ResourceType, existing: dict) -> dict:
        name = existing["metadata"]["name"]
        marked = copy.deepcopy(existing)
        if not marked["metadata"].get("deletionTimestamp"):
            marked["metadata"]["deletionTimestamp"] = self.now()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            marked.setdefault("status", {})["phase"] = "Terminating"
            marked["metadata"]["resourceVersion"] = self._next_rv()
            self._bucket(rt)[("", name)] = marked
            self._emit(rt, "MODIFIED", marked, existing)
        for content_rt, obj in self.objects():
            if content_rt.namespaced and obj["metadata"].get("namespace") == name:
                current = self._lookup(content_rt, name, obj["metadata"]["name"])
                if current is not None and not current["metadata"].get("deletionTimestamp"):
                    self._delete(content_rt, current, "Background", None)
        self._finish_namespace(name)
        return view(rt, self._bucket(rt).get(("", name), marked))

    def _finish_namespace(self, name: str) -> None:
        namespaces = self.resource("namespaces")
        ns = self._bucket(namespaces).get(("", name))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        if any(rt.namespaced and o["metadata"].get("namespace") == name for rt, o in self.objects()):
            return
        gone = copy.deepcopy(ns)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._bucket(namespaces).pop(("", name), None)
        self._emit(namespaces, "DELETED", gone, ns)

    def _sync_crd(self, crd: dict | None, old: dict | None) -> None:
        """Serve, re-serve or stop serving a CRD's resources; deleting a CRD deletes its objects."""
        retired: list[ResourceType] = []
        if old is not None:
            retired = self.crds.unregister(old)
            self._types = [t for t in self._types if t not in retired]
        if crd is not None:
            self._types.extend(self.crds.register(crd))
        elif retired:
            for obj in list(self._objects.pop(retired[0].key, {}).values()):
                final = copy.deepcopy(obj)
                final["metadata"]["resourceVersion"] = self._next_rv()
                self._emit(retired[0], "DELETED", final, obj)


def _unchanged(new: dict, old: dict) -> bool:
    """Whether a write leaves the object (managedFields included) as it was: a no-op, not stored.

    A write that changes no field also leaves managedFields alone, so it bumps no resourceVersion.
    """
    if new.keys() != old.keys() or any(new[k] != old[k] for k in new if k != "metadata"):
        return False
    new_meta, old_meta = new["metadata"], old["metadata"]
    return new_meta.keys() == old_meta.keys() and all(
        new_meta[k] == old_meta[k] for k in new_meta if k != "resourceVersion"
    )


def _unmanaged(meta: dict) -> dict:
    """Metadata less managedFields, which only the server writes (see managed_fields)."""
    return {key: value for key, value in meta.items() if key != "managedFields"}


def _spec_of(rt: ResourceType, obj: dict) -> dict:
    """What generation tracks: everything but metadata (and status, where it is a subresource)."""
    return {k: v for k, v in obj.items() if k != "metadata" and not (k == "status" and rt.has_status)}
