"""The in-memory object store: what etcd plus the generic registry are to a real API server.

The HTTP routes, the simulation's controllers and the sandbox's scenario loader all read and write
through `Store`. It owns the objects, resourceVersions, uids, generations and deletion; it hands
writes to admission (admission.py, then admission_policies.py for API requests), changes to the
watch fan-out (watch.py), removals to the garbage collector (garbage.py) and the namespace
controller (namespaces.py), and CRDs to the served types (served.py). Every public method is a
coroutine for callers, but each mutation runs to completion without awaiting, so the store is
consistent for the single event loop it lives on.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from . import admission, admission_policies, garbage, managed_fields, namespaces, service_accounts
from .authn import UserInfo
from .crds import established_status
from .errors import ApiError, already_exists, bad_request, conflict, invalid, not_found, required
from .managed_fields import IN_PROCESS, Writer
from .objects import rfc3339, view
from .patching import APPLY_PATCH, JSON_PATCH, apply_patch
from .resources import INITIAL_NAMESPACES, ResourceType
from .selectors import (
    FieldSelector,
    LabelSelector,
    check_field_labels,
    parse_field_selector,
    parse_label_selector,
)
from .served import ServedTypes
from .watch import Subscriber, Watches, WatchEvent

logger = logging.getLogger(__name__)

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")
_API_SERVER = Writer("kube-apiserver")  # the manager a real cluster records for its initial namespaces
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Metadata only the server sets: a create that carries it has it dropped.
_TRANSIENT_METADATA = ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields")


class Store:
    """Objects by (group, plural) then (namespace, name); namespace is "" for cluster-scoped kinds.

    It implements `registry.Registry`, the interface of its garbage collector and namespace controller.
    """

    def __init__(self, *, history_limit: int = 10000, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self._types = ServedTypes()
        self.crds = self._types.crds
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._rv = 0
        self._watches = Watches(history_limit)
        namespaces_rt = self.resource("namespaces")
        for name in INITIAL_NAMESPACES:
            self._create(namespaces_rt, {"metadata": {"name": name}}, dry_run=False, writer=_API_SERVER)

    # -- resource types -------------------------------------------------------------------------

    def resource(self, name: str, group: str | None = None) -> ResourceType:
        """Resolve ``pods``, ``Pod``, ``po``, ``deployments.apps`` or a CRD's names to its served type."""
        return self._types.resource(name, group)

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at /apis/{group}/{version}/{plural}, if any."""
        return self._types.find(group, version, plural)

    def resource_types(self) -> list[ResourceType]:
        return self._types.all()

    def is_custom(self, rt: ResourceType) -> bool:
        return self._types.is_custom(rt)

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
        subscriber = Subscriber(rt, namespace, *self.selectors(rt, label_selector, field_selector))
        events = self._watches.stream(
            subscriber, self._bucket(rt), resource_version, bookmark_interval, lambda: self.resource_version
        )
        async with contextlib.aclosing(events):  # closing this stream unsubscribes at once
            async for event in events:
                yield event

    def close_watches(self) -> int:
        """End every open watch stream (clients see the connection close and must re-watch)."""
        return self._watches.close_all()

    def compact(self) -> None:
        """Forget the watch history, as etcd compaction does: older resourceVersions now get 410 Gone."""
        self._watches.compact()

    def unknown_fields(self, rt: ResourceType, obj: dict) -> list[str]:
        """Paths of fields the kind does not declare (the server drops them unless validation is Strict)."""
        return admission.unknown_fields(self.crds, rt, obj)

    # -- writes ----------------------------------------------------------------------------------

    async def create(
        self,
        rt: ResourceType,
        obj: dict,
        *,
        dry_run: bool = False,
        field_validation: str | None = None,
        field_manager: str = IN_PROCESS,
        user: UserInfo | None = None,
    ) -> dict:
        """``field_validation="Strict"`` rejects fields a custom resource's schema does not declare.

        ``field_manager`` is who managedFields records as the writer (here and in update and patch);
        ``user`` is who made the API request, for admission policies (None: an in-process write).
        """
        return self._create(
            rt,
            obj,
            dry_run=dry_run,
            strict=field_validation == "Strict",
            writer=Writer(field_manager),
            user=user,
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
        user: UserInfo | None = None,
    ) -> dict:
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise bad_request("Object 'metadata' is missing in the request body")
        meta = obj["metadata"]
        existing = self._get_raw(rt, meta.get("namespace"), meta.get("name") or "")
        stale = meta.get("resourceVersion")
        if stale and stale != existing["metadata"]["resourceVersion"]:
            raise conflict(rt, existing["metadata"]["name"])
        admission.check_strict(self.crds, rt, obj, field_validation == "Strict")
        merged = admission.merge(rt, existing, obj, subresource)
        return self._commit(
            rt, existing, merged, dry_run=dry_run, writer=Writer(field_manager, subresource or ""), user=user
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
        user: UserInfo | None = None,
    ) -> dict:
        """``subresource="scale"`` is a write of spec.replicas recorded as the scale subresource's."""
        strict = field_validation == "Strict"
        apply = patch_type.startswith(APPLY_PATCH)
        configuration = (body if isinstance(body, dict) else {}) if apply else None
        writer = Writer(field_manager, subresource or "", configuration)
        if apply and self._lookup(rt, namespace, name) is None:
            applied = copy.deepcopy(body) if isinstance(body, dict) else {}
            applied.setdefault("metadata", {}).update({"name": name, "namespace": namespace})
            return self._create(rt, applied, dry_run=dry_run, strict=strict, writer=writer, user=user)
        existing = self._get_raw(rt, namespace, name)
        # Only a JSON patch can address managedFields (to no effect, see admission.merge): others skip copying them.
        source = view(rt, existing, managed_fields=patch_type.startswith(JSON_PATCH))
        patched = apply_patch(rt, source, patch_type, body, builtin=not self.is_custom(rt))
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise bad_request("the patch would remove the object's metadata")
        wanted = patched["metadata"].get("resourceVersion")
        if wanted and wanted != existing["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        patched["metadata"]["name"] = name
        admission.check_strict(self.crds, rt, patched, strict)
        merged = admission.merge(rt, existing, patched, subresource)
        return self._commit(rt, existing, merged, dry_run=dry_run, writer=writer, user=user)

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
        return self.delete_stored(rt, existing, propagation, grace_period_seconds)

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

    # -- stored objects, for the server's own controllers (registry.Registry) ----------------------

    def stored(self, rt: ResourceType) -> dict[tuple[str, str], dict]:
        """The stored objects of a kind by (namespace, name), not copies: for `ViewCache` and the
        namespace controller.

        A write replaces an object's dict and never changes one in place, so identity tells a change.
        """
        return self._bucket(rt)

    def objects(self) -> list[tuple[ResourceType, dict]]:
        """Stored objects (not copies) with their preferred type, for garbage collection and namespace cleanup."""
        return [
            (rt, obj)
            for key, rt in self._types.preferred().items()
            for obj in self._objects.get(key, {}).values()
        ]

    def write_stored(self, rt: ResourceType, stored: dict, new: dict, writer: Writer) -> dict:
        """Admit and store ``new``, a changed copy of ``stored``, as ``writer`` (the garbage collector)."""
        return self._commit(rt, stored, new, dry_run=False, writer=writer)

    def mark_stored(self, rt: ResourceType, stored: dict, marked: dict) -> None:
        """Store ``marked``, a copy of ``stored`` marked for deletion, without admission."""
        marked["metadata"]["resourceVersion"] = self._next_rv()
        self._bucket(rt)[_key(rt, marked)] = marked
        self._watches.publish(rt, "MODIFIED", marked, stored)

    def purge_stored(self, rt: ResourceType, stored: dict) -> None:
        """Drop ``stored`` for good, with nothing to follow: an emptied terminating namespace."""
        gone = copy.deepcopy(stored)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._bucket(rt).pop(_key(rt, stored), None)
        self._watches.publish(rt, "DELETED", gone, stored)

    def delete_stored(
        self, rt: ResourceType, stored: dict, propagation: str, grace: int | None = None
    ) -> dict:
        """Delete ``stored``: mark it while finalizers or foreground dependents hold it, else remove it."""
        meta = stored["metadata"]
        if propagation == "Orphan":
            garbage.orphan(self, meta["uid"])
        if rt.key == NAMESPACE_KEY:
            return namespaces.terminate(self, rt, stored)
        finalizers = list(meta.get("finalizers") or [])
        if (
            propagation == "Foreground"
            and garbage.FOREGROUND not in finalizers
            and garbage.dependents(self, meta["uid"])
        ):
            finalizers.append(garbage.FOREGROUND)
        if finalizers:
            if meta.get("deletionTimestamp") and finalizers == meta.get("finalizers"):
                return view(rt, stored)
            marked = copy.deepcopy(stored)
            marked["metadata"]["finalizers"] = finalizers
            marked["metadata"].setdefault("deletionTimestamp", self.now())
            marked["metadata"].setdefault("deletionGracePeriodSeconds", grace if grace is not None else 0)
            self.mark_stored(rt, stored, marked)
            if garbage.FOREGROUND in finalizers:
                garbage.collect(self, marked, "Foreground")
            return view(rt, marked)
        gone = copy.deepcopy(stored)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._remove(rt, gone, stored)
        return view(rt, gone)

    # -- internals -------------------------------------------------------------------------------

    def _bucket(self, rt: ResourceType) -> dict[tuple[str, str], dict]:
        return self._objects.setdefault(rt.key, {})

    def _lookup(self, rt: ResourceType, namespace: str | None, name: str) -> dict | None:
        return self._bucket(rt).get(((namespace or "default") if rt.namespaced else "", name))

    def _get_raw(self, rt: ResourceType, namespace: str | None, name: str) -> dict:
        obj = self._lookup(rt, namespace, name)
        if obj is None:
            raise not_found(rt, name)
        return obj

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _create(
        self,
        rt: ResourceType,
        obj: Any,
        *,
        dry_run: bool,
        writer: Writer,
        strict: bool = False,
        user: UserInfo | None = None,
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
            namespaces.check_open(self, rt, namespace, meta.get("name") or meta.get("generateName", ""))
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
        for transient in _TRANSIENT_METADATA:
            meta.pop(transient, None)
        meta["uid"] = str(uuid.uuid4())  # before admission: a Job's generated selector names it
        admission.check_strict(self.crds, rt, obj, strict)
        obj = admission.admit(self.crds, rt, obj, None)
        if rt.group == "" and rt.kind == "Pod":
            account = self.stored(self.resource("serviceaccounts")).get(
                (namespace, obj["spec"].get("serviceAccountName", ""))
            )
            service_accounts.mount_token(obj, account, "".join(random.choices(_NAME_ALPHABET, k=5)))
        self._check_policies(rt, obj, None, writer, user, dry_run)
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
        self._watches.publish(rt, "ADDED", obj, None)
        if rt.key == CRD_KEY:
            self._sync_crd(obj, None)
        logger.debug(
            "created", extra={"resource": rt.plural, "namespace": namespace, "object_name": meta["name"]}
        )
        return view(rt, obj)

    def _commit(
        self,
        rt: ResourceType,
        existing: dict,
        new: dict,
        *,
        dry_run: bool,
        writer: Writer | None,
        user: UserInfo | None = None,
    ) -> dict:
        """Admit and store an update; ``writer`` None leaves managedFields as they were (a binding)."""
        new = admission.admit(self.crds, rt, new, existing)
        self._check_policies(rt, new, existing, writer, user, dry_run)
        admission.check_finalizers(rt, existing, new)
        if writer is not None:
            managed_fields.track(rt, self.crds.schema_for(rt), existing, new, writer, self.now())
        if admission.unchanged(new, existing):
            return view(rt, existing)
        if admission.spec_changed(rt, new, existing):
            new["metadata"]["generation"] = int(existing["metadata"].get("generation") or 1) + 1
        if dry_run:
            return view(rt, new)
        new["metadata"]["resourceVersion"] = self._next_rv()
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(rt, new, existing)
        else:
            self._bucket(rt)[_key(rt, new)] = new
            self._watches.publish(rt, "MODIFIED", new, existing)
            if rt.key == CRD_KEY:
                self._sync_crd(new, existing)
        return view(rt, new)

    def _check_policies(
        self,
        rt: ResourceType,
        new: dict,
        old: dict | None,
        writer: Writer | None,
        user: UserInfo | None,
        dry_run: bool,
    ) -> None:
        """ValidatingAdmissionPolicies judge API requests (``user`` set), not the store's in-process writes."""
        bindings = self._objects.get(admission_policies.BINDINGS)
        if user is None or not bindings:
            return
        namespace = None
        if rt.namespaced:
            namespace = self._objects.get(NAMESPACE_KEY, {}).get(("", new["metadata"]["namespace"]))
        request = admission_policies.PolicyRequest(
            rt, new, old, user, writer.subresource if writer else "", dry_run, namespace
        )
        admission_policies.check(
            request, self._objects.get(admission_policies.POLICIES, {}), bindings.values()
        )

    def _remove(self, rt: ResourceType, final: dict, old: dict) -> None:
        """Drop an object for good, then let garbage collection and namespace cleanup follow."""
        key = _key(rt, final)
        self._bucket(rt).pop(key, None)
        self._watches.publish(rt, "DELETED", final, old)
        if rt.key == CRD_KEY:
            self._sync_crd(None, old)
        garbage.collect(self, final, "Background")
        garbage.release_owners(self, final)
        if key[0]:
            namespaces.finish(self, key[0])

    def _sync_crd(self, crd: dict | None, old: dict | None) -> None:
        """Serve, re-serve or stop serving a CRD's resources; deleting a CRD deletes its objects."""
        retired = self._types.sync(crd, old)
        if crd is None and retired:
            for obj in list(self._objects.pop(retired[0].key, {}).values()):
                final = copy.deepcopy(obj)
                final["metadata"]["resourceVersion"] = self._next_rv()
                self._watches.publish(retired[0], "DELETED", final, obj)


def _key(rt: ResourceType, obj: dict) -> tuple[str, str]:
    """Where an object is stored in its kind's bucket."""
    meta = obj["metadata"]
    return (meta.get("namespace", "") if rt.namespaced else "", meta["name"])
