"""The resource routes: every verb on /api/{version}/... and /apis/{group}/{version}/... collections and objects.

server.py mounts them. A request's URL resolves to a `Target` and its method (with ``?watch``) to a
Kubernetes verb; armed faults apply; then the verb runs against the Store here, or goes to the watch
stream (routes_watch.py) or a subresource handler (routes_subresources.py).
"""

from __future__ import annotations

from typing import Any, TypedDict

from aiohttp import web

from ..authn import UserInfo
from ..errors import ApiError, bad_request, method_not_allowed
from ..faults import Faults
from ..patching import APPLY_PATCH
from ..store import Store
from .authorization import requester
from .rest import Target, dry_run, field_manager, json_response, read_body, render, truthy, unknown_path
from .subresources import SubresourceRoutes
from .watch import WatchRoutes

_VERBS_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch"}


class _WriteOptions(TypedDict):
    """Store keywords every write takes, from ``dryRun``, ``fieldValidation`` and ``fieldManager``, and
    the requester (for admission policies)."""

    dry_run: bool
    field_validation: str | None
    field_manager: str
    user: UserInfo


def _write_options(request: web.Request, manager: str) -> _WriteOptions:
    """The query options create, update and patch share; `manager` is read before the body, these after."""
    return {
        "dry_run": dry_run(request),
        "field_validation": request.query.get("fieldValidation"),
        "field_manager": manager,
        "user": requester(request),
    }


def _owned_body(body: Any, target: Target) -> dict:
    """Check the body against the URL's namespace and name, filling them in where absent."""
    if not isinstance(body, dict):
        raise bad_request(
            f"the body of the request was in an unknown format: expected a {target.rt.kind} object"
        )
    meta = body.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    if target.namespace is not None:
        if meta.get("namespace") and meta["namespace"] != target.namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = target.namespace
    if target.name is not None:
        if meta.get("name") and meta["name"] != target.name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})"
            )
        meta["name"] = target.name
    kind = body.get("kind")
    if kind and kind != target.rt.kind:
        raise bad_request(f"the kind of the object ({kind}) does not match the URL ({target.rt.kind})")
    return body


def _delete_options(request: web.Request, body: Any) -> tuple[str, int | None, bool]:
    """propagationPolicy, gracePeriodSeconds and dryRun, from the query or a DeleteOptions body."""
    options = body if isinstance(body, dict) else {}
    propagation = request.query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
    if options.get("orphanDependents") is True:
        propagation = "Orphan"
    grace = request.query.get("gracePeriodSeconds") or options.get("gracePeriodSeconds")
    return propagation, int(grace) if grace is not None else None, dry_run(request, options)


def _list_response(target: Target, items: list[dict], rv: str) -> web.Response:
    return json_response(
        {
            "kind": f"{target.rt.kind}List",
            "apiVersion": target.rt.api_version,
            "metadata": {"resourceVersion": rv},
            "items": items,
        }
    )


class ResourceRoutes:
    """The verbs of collections and objects, and the dispatch of watches and subresources."""

    def __init__(
        self, store: Store, faults: Faults, watches: WatchRoutes, subresources: SubresourceRoutes
    ) -> None:
        self.store = store
        self.faults = faults
        self.watches = watches
        self.subresources = subresources

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/api/{version}/{rest:.+}", self.resource),
            web.route("*", "/apis/{group}/{version}/{rest:.+}", self.resource),
        ]

    def _target(self, request: web.Request) -> Target:
        group = request.match_info.get("group", "")
        version = request.match_info["version"]
        parts = [p for p in request.match_info["rest"].split("/") if p]
        namespace = None
        if len(parts) >= 3 and parts[0] == "namespaces" and parts[2] not in ("status", "finalize"):
            namespace, parts = parts[1], parts[2:]
        if not parts or len(parts) > 3:
            raise unknown_path()
        rt = self.store.find(group, version, parts[0])
        if rt is None or (namespace is not None and not rt.namespaced):
            raise unknown_path()
        name = parts[1] if len(parts) > 1 else None
        subresource = parts[2] if len(parts) > 2 else None
        if subresource is not None and subresource not in rt.subresources:
            raise unknown_path()
        if rt.namespaced and name is not None and namespace is None:
            raise unknown_path()
        return Target(rt, namespace, name, subresource)

    async def resource(self, request: web.Request) -> web.StreamResponse:
        target = self._target(request)
        method = request.method
        if method == "GET":
            verb = "get" if target.name else "watch" if truthy(request.query.get("watch")) else "list"
        elif method == "DELETE":
            verb = "delete" if target.name else "deletecollection"
        else:
            verb = _VERBS_BY_METHOD.get(method, "")
        if (
            verb not in target.rt.verbs
        ):  # an unknown method, or a review (create-only, routes/authorization.py)
            raise method_not_allowed(
                f"the server does not allow this method on the requested resource ({method})"
            )
        self.faults.check(verb, request.path)
        special = self.subresources.handlers.get(target.subresource or "")
        if special is not None:
            return await special(request, target, verb)
        handler = {
            "get": self._get,
            "list": self._list,
            "watch": self.watches.watch,
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
            "deletecollection": self._delete_collection,
        }[verb]
        if target.name is None and verb in ("update", "patch"):
            raise method_not_allowed(
                f"the server does not allow this method on the requested resource ({method})"
            )
        if target.name is not None and verb == "create":
            raise method_not_allowed("the server does not allow this method on the requested resource (POST)")
        return await handler(request, target)

    async def _get(self, request: web.Request, target: Target) -> web.Response:
        obj = await self.store.get(target.rt, target.namespace, target.name or "")
        rv = obj["metadata"].get("resourceVersion", "")
        rendered = render(request, self.store, target.rt, [obj], rv, single=True)
        return json_response(rendered if rendered is not None else obj)

    async def _list(self, request: web.Request, target: Target) -> web.Response:
        items, rv = await self.store.list(
            target.rt,
            target.namespace,
            label_selector=request.query.get("labelSelector"),
            field_selector=request.query.get("fieldSelector"),
        )
        rendered = render(request, self.store, target.rt, items, rv, single=False)
        if rendered is not None:
            return json_response(rendered)
        return _list_response(target, items, rv)

    async def _create(self, request: web.Request, target: Target) -> web.Response:
        manager = field_manager(request, "create")
        body = _owned_body(await read_body(request), target)
        created = await self.store.create(target.rt, body, **_write_options(request, manager))
        return self._warn(request, target, body, json_response(created, 201))

    async def _update(self, request: web.Request, target: Target) -> web.Response:
        manager = field_manager(request, "update")
        body = _owned_body(await read_body(request), target)
        updated = await self.store.update(
            target.rt,
            body,
            subresource=target.subresource,
            **_write_options(request, manager),
        )
        return self._warn(request, target, body, json_response(updated))

    async def _patch(self, request: web.Request, target: Target) -> web.Response:
        patch_type = request.headers.get("Content-Type", "")
        manager = field_manager(request, "patch", apply=patch_type.startswith(APPLY_PATCH))
        body = await read_body(request)
        if body is None:
            raise bad_request("the body of the request was empty: a patch is required")
        patched = await self.store.patch(
            target.rt,
            target.namespace,
            target.name or "",
            patch_type,
            body,
            subresource=target.subresource,
            **_write_options(request, manager),
        )
        partial = body if isinstance(body, dict) else {}  # a JSON patch names no fields to check
        return self._warn(request, target, partial, json_response(patched))

    def _warn(self, request: web.Request, target: Target, body: dict, response: web.Response) -> web.Response:
        """``fieldValidation=Warn``: unknown fields are dropped and reported in Warning headers."""
        if request.query.get("fieldValidation") == "Warn":
            for path in self.store.unknown_fields(target.rt, body):
                response.headers.add("Warning", f'299 - "unknown field \\"{path}\\""')
        return response

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        propagation, grace, dry = _delete_options(request, await read_body(request))
        deleted = await self.store.delete(
            target.rt,
            target.namespace,
            target.name or "",
            propagation=propagation,
            dry_run=dry,
            grace_period_seconds=grace,
        )
        pending = bool(deleted["metadata"].get("deletionTimestamp")) and not dry
        return json_response(deleted, 202 if pending and deleted["metadata"].get("finalizers") else 200)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        propagation, grace, dry = _delete_options(request, await read_body(request))
        items, rv = await self.store.list(
            target.rt,
            target.namespace,
            label_selector=request.query.get("labelSelector"),
            field_selector=request.query.get("fieldSelector"),
        )
        deleted = []
        for item in items:
            meta = item["metadata"]
            try:
                deleted.append(
                    await self.store.delete(
                        target.rt,
                        meta.get("namespace"),
                        meta["name"],
                        propagation=propagation,
                        dry_run=dry,
                        grace_period_seconds=grace,
                    )
                )
            except ApiError as error:
                if error.code != 404:  # already gone through garbage collection
                    raise
        return _list_response(target, deleted, rv)
