"""The HTTP face of the sandbox: Kubernetes REST paths over the Store, served with aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypedDict

import yaml
from aiohttp import web
from pydantic import ValidationError

from . import discovery, managed_fields, openapi, protobuf, tables
from .errors import ApiError, bad_request, method_not_allowed
from .faults import FaultRequest, Faults
from .logs import PodLogs
from .patching import APPLY_PATCH, apply_patch
from .resources import ResourceType
from .store import Store, WatchEvent

logger = logging.getLogger(__name__)

JSON = "application/json"
_DEFAULT_WATCH_TIMEOUT = 1800
_LOG_POLL_SECONDS = 0.25
_VERBS_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def _json(body: Any, status: int = 200, content_type: str = JSON) -> web.Response:
    encoded = json.dumps(body, separators=(",", ":")).encode()
    return web.Response(body=encoded, status=status, headers={"Content-Type": content_type})


class _WriteOptions(TypedDict):
    """Store keywords every write takes, from ``dryRun``, ``fieldValidation`` and ``fieldManager``."""

    dry_run: bool
    field_validation: str | None
    field_manager: str


def _wants_aggregated(request: web.Request) -> bool:
    """Clients that accept aggregated discovery (kubectl, client-go) get every group in one request."""
    accept = request.headers.get("Accept", "")
    return "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept


def _unknown_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


@contextlib.contextmanager
def _until_client_leaves(request: web.Request) -> Iterator[None]:
    """End a stream quietly when its client hangs up: `rollout status` done, Ctrl-C on `logs -f`."""
    try:
        yield
    except ConnectionResetError:
        logger.debug("client went away method=%s path=%s", request.method, request.path)


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


class Api:
    """Request handlers; one instance per application."""

    def __init__(self, store: Store, logs: PodLogs, faults: Faults, bookmark_interval: float) -> None:
        self.store = store
        self.logs = logs
        self.faults = faults
        self.bookmark_interval = bookmark_interval

    # -- plumbing ----------------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if not request.path.startswith("/sandbox/"):
                delay = self.faults.latency_for(request.path)
                if delay:
                    await asyncio.sleep(delay)
            return await handler(request)
        except ApiError as error:
            return self._error(request, error)
        except web.HTTPNotFound:
            return self._error(request, _unknown_path())
        except web.HTTPMethodNotAllowed:
            return self._error(
                request,
                method_not_allowed(
                    f"the server does not allow this method on the requested resource ({request.method})"
                ),
            )
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:
            logger.exception("unhandled error method=%s path=%s", request.method, request.path)
            return self._error(request, ApiError(500, "InternalError", f"Internal error occurred: {exc}"))

    def _error(self, request: web.Request, error: ApiError) -> web.Response:
        if error.code >= 500 or error.code == 429:
            logger.info("api error code=%s method=%s path=%s", error.code, request.method, request.path)
        response = _json(error.status(), error.code)
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        content_type = request.headers.get("Content-Type", JSON)
        if content_type.startswith(protobuf.PROTOBUF):
            return protobuf.decode(raw)
        try:
            if "yaml" in content_type:
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"the body of the request could not be decoded: {exc}") from None

    # -- discovery and OpenAPI ----------------------------------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        self.faults.check("get", request.path)
        return _json(discovery.KUBE_VERSION)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def core_versions(self, request: web.Request) -> web.Response:
        return self._discovery(request, core=True)

    async def groups(self, request: web.Request) -> web.Response:
        return self._discovery(request, core=False)

    def _discovery(self, request: web.Request, *, core: bool) -> web.Response:
        """/api or /apis: the aggregated document when the client asks for it, else the legacy list."""
        self.faults.check("get", request.path)
        types = self.store.resource_types()
        if _wants_aggregated(request):
            return _json(discovery.aggregated(types, core=core), content_type=discovery.AGGREGATED)
        return _json(discovery.api_versions(request.host) if core else discovery.api_group_list(types))

    async def group(self, request: web.Request) -> web.Response:
        document = discovery.api_group(self.store.resource_types(), request.match_info["group"])
        if document is None:
            raise _unknown_path()
        return _json(document)

    async def resource_list(self, request: web.Request) -> web.Response:
        self.faults.check("get", request.path)
        group = request.match_info.get("group", "")
        document = discovery.api_resource_list(
            self.store.resource_types(), group, request.match_info["version"]
        )
        if document is None:
            raise _unknown_path()
        return _json(document)

    async def openapi_index(self, request: web.Request) -> web.Response:
        return _json(openapi.index(self.store.resource_types(), self.store.crds))

    async def openapi_document(self, request: web.Request) -> web.Response:
        parts = request.match_info["path"].strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[0] == "apis" and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            raise _unknown_path()
        document = openapi.document(self.store.resource_types(), self.store.crds, group, version)
        if document is None:
            raise _unknown_path()
        return _json(document)

    # -- fault administration -------------------------------------------------------------------------

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            fault = FaultRequest.model_validate(await self._body(request) or {})
        except ValidationError as exc:
            raise bad_request(f"invalid fault request: {exc}") from None
        self.faults.arm(fault)
        if fault.compact_history:
            self.store.compact()
        dropped = self.store.close_watches() if fault.drop_watches else 0
        return _json({"armedErrors": len(self.faults.errors), "droppedWatches": dropped})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return _json({"armedErrors": 0})

    # -- resources -----------------------------------------------------------------------------------

    def _target(self, request: web.Request) -> Target:
        group = request.match_info.get("group", "")
        version = request.match_info["version"]
        parts = [p for p in request.match_info["rest"].split("/") if p]
        namespace = None
        if len(parts) >= 3 and parts[0] == "namespaces" and parts[2] not in ("status", "finalize"):
            namespace, parts = parts[1], parts[2:]
        if not parts or len(parts) > 3:
            raise _unknown_path()
        rt = self.store.find(group, version, parts[0])
        if rt is None or (namespace is not None and not rt.namespaced):
            raise _unknown_path()
        name = parts[1] if len(parts) > 1 else None
        subresource = parts[2] if len(parts) > 2 else None
        if subresource is not None and subresource not in rt.subresources:
            raise _unknown_path()
        if rt.namespaced and name is not None and namespace is None:
            raise _unknown_path()
        return Target(rt, namespace, name, subresource)

    async def resource(self, request: web.Request) -> web.StreamResponse:
        target = self._target(request)
        query = request.query
        method = request.method
        if method == "GET":
            verb = "get" if target.name else "watch" if _truthy(query.get("watch")) else "list"
        elif method == "DELETE":
            verb = "delete" if target.name else "deletecollection"
        elif method in _VERBS_BY_METHOD:
            verb = _VERBS_BY_METHOD[method]
        else:
            raise method_not_allowed(
                f"the server does not allow this method on the requested resource ({method})"
            )
        self.faults.check(verb, request.path)
        if target.subresource == "log":
            if verb != "get":
                raise method_not_allowed("the server does not allow this method on the requested resource")
            return await self._log(request, target, query)
        if target.subresource == "scale":
            return await self._scale(request, target, verb)
        if target.subresource == "binding":
            if verb != "create":
                raise method_not_allowed("the server does not allow this method on the requested resource")
            return await self._bind(request, target)
        handler = {
            "get": self._get,
            "list": self._list,
            "watch": self._watch,
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

    def _render(
        self, request: web.Request, rt: ResourceType, objects: list[dict], rv: str, *, single: bool
    ) -> dict | None:
        """A Table or PartialObjectMetadata rendering when the Accept header asks for one, else None."""
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept:
            version = self.store.crds.version(rt)
            return tables.table(
                rt,
                objects,
                now=self.store.clock(),
                printer_columns=list(version.columns) if version and version.columns else None,
                include_object=request.query.get("includeObject", "Metadata"),
                resource_version=rv,
            )
        if "as=PartialObjectMetadata" in accept:
            partial = [
                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
                for o in objects
            ]
            if single:
                return partial[0]
            return {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": rv},
                "items": partial,
            }
        return None

    async def _get(self, request: web.Request, target: Target) -> web.Response:
        obj = await self.store.get(target.rt, target.namespace, target.name or "")
        rendered = self._render(
            request, target.rt, [obj], obj["metadata"].get("resourceVersion", ""), single=True
        )
        return _json(rendered if rendered is not None else obj)

    async def _list(self, request: web.Request, target: Target) -> web.Response:
        items, rv = await self.store.list(
            target.rt,
            target.namespace,
            label_selector=request.query.get("labelSelector"),
            field_selector=request.query.get("fieldSelector"),
        )
        rendered = self._render(request, target.rt, items, rv, single=False)
        if rendered is not None:
            return _json(rendered)
        return _json(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            }
        )

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        query = request.query
        label_selector, field_selector = query.get("labelSelector"), query.get("fieldSelector")
        self.store.selectors(
            target.rt, label_selector, field_selector
        )  # a bad selector is a 400, not a stream
        timeout = float(query.get("timeoutSeconds") or _DEFAULT_WATCH_TIMEOUT)
        bookmarks = _truthy(query.get("allowWatchBookmarks"))
        as_table = "as=Table" in request.headers.get("Accept", "")
        response = web.StreamResponse(
            status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def send(event: WatchEvent) -> None:
            obj = event.object
            if as_table and event.type != "BOOKMARK":
                obj = (
                    self._render(
                        request, target.rt, [obj], obj["metadata"].get("resourceVersion", ""), single=True
                    )
                    or obj
                )
            await response.write(
                json.dumps({"type": event.type, "object": obj}, separators=(",", ":")).encode() + b"\n"
            )

        with _until_client_leaves(request):
            since = query.get("resourceVersion")
            if _truthy(query.get("sendInitialEvents")):
                items, since = await self.store.list(
                    target.rt, target.namespace, label_selector=label_selector, field_selector=field_selector
                )
                for item in items:
                    await send(WatchEvent("ADDED", item))
                end = {
                    "kind": target.rt.kind,
                    "apiVersion": target.rt.api_version,
                    "metadata": {
                        "resourceVersion": since,
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                }
                await send(WatchEvent("BOOKMARK", end))
            events = self.store.watch(
                target.rt,
                target.namespace,
                resource_version=since,
                label_selector=label_selector,
                field_selector=field_selector,
                bookmark_interval=self.bookmark_interval,
            )
            try:
                async with asyncio.timeout(timeout):
                    async for event in events:
                        if event.type != "BOOKMARK" or bookmarks:
                            await send(event)
                        elif request.transport is None or request.transport.is_closing():
                            break  # a quiet stream whose client went away: stop holding its subscription
            except TimeoutError:
                pass
            except ApiError as error:
                await response.write(json.dumps({"type": "ERROR", "object": error.status()}).encode() + b"\n")
            finally:
                await events.aclose()
            await response.write_eof()
        return response

    def _dry_run(self, request: web.Request, options: dict | None = None) -> bool:
        values = request.query.getall("dryRun", [])
        if options and isinstance(options.get("dryRun"), list):
            values = [*values, *options["dryRun"]]
        for value in values:
            if value != "All":
                raise bad_request(f'Invalid value: "{value}": supported values: "All"')
        return bool(values)

    def _write_options(self, request: web.Request, manager: str) -> _WriteOptions:
        """The query options create, update and patch share; `manager` is read before the body, these after."""
        return {
            "dry_run": self._dry_run(request),
            "field_validation": request.query.get("fieldValidation"),
            "field_manager": manager,
        }

    def _field_manager(self, request: web.Request, verb: str, *, apply: bool = False) -> str:
        """The ``fieldManager`` parameter, else the User-Agent's product (``kubectl``, ``OpenAPI-Generator``)."""
        manager = request.query.get("fieldManager", "")
        managed_fields.check_manager(verb, manager, apply=apply)
        return manager or managed_fields.manager_from_user_agent(request.headers.get("User-Agent", ""))

    def _owned_body(self, body: Any, target: Target) -> dict:
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

    async def _create(self, request: web.Request, target: Target) -> web.Response:
        manager = self._field_manager(request, "create")
        body = self._owned_body(await self._body(request), target)
        created = await self.store.create(target.rt, body, **self._write_options(request, manager))
        return self._warn(request, target, body, _json(created, 201))

    async def _update(self, request: web.Request, target: Target) -> web.Response:
        manager = self._field_manager(request, "update")
        body = self._owned_body(await self._body(request), target)
        updated = await self.store.update(
            target.rt,
            body,
            subresource=target.subresource,
            **self._write_options(request, manager),
        )
        return self._warn(request, target, body, _json(updated))

    async def _patch(self, request: web.Request, target: Target) -> web.Response:
        patch_type = request.headers.get("Content-Type", "")
        manager = self._field_manager(request, "patch", apply=patch_type.startswith(APPLY_PATCH))
        body = await self._body(request)
        if body is None:
            raise bad_request("the body of the request was empty: a patch is required")
        patched = await self.store.patch(
            target.rt,
            target.namespace,
            target.name or "",
            patch_type,
            body,
            subresource=target.subresource,
            **self._write_options(request, manager),
        )
        partial = body if isinstance(body, dict) else {}  # a JSON patch names no fields to check
        return self._warn(request, target, partial, _json(patched))

    def _warn(self, request: web.Request, target: Target, body: dict, response: web.Response) -> web.Response:
        """``fieldValidation=Warn``: unknown fields are dropped and reported in Warning headers."""
        if request.query.get("fieldValidation") == "Warn":
            for path in self.store.unknown_fields(target.rt, body):
                response.headers.add("Warning", f'299 - "unknown field \\"{path}\\""')
        return response

    def _delete_options(self, request: web.Request, body: Any) -> tuple[str, int | None, bool]:
        options = body if isinstance(body, dict) else {}
        propagation = (
            request.query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
        )
        if options.get("orphanDependents") is True:
            propagation = "Orphan"
        grace = request.query.get("gracePeriodSeconds") or options.get("gracePeriodSeconds")
        return propagation, int(grace) if grace is not None else None, self._dry_run(request, options)

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        propagation, grace, dry_run = self._delete_options(request, await self._body(request))
        deleted = await self.store.delete(
            target.rt,
            target.namespace,
            target.name or "",
            propagation=propagation,
            dry_run=dry_run,
            grace_period_seconds=grace,
        )
        pending = bool(deleted["metadata"].get("deletionTimestamp")) and not dry_run
        return _json(deleted, 202 if pending and deleted["metadata"].get("finalizers") else 200)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        propagation, grace, dry_run = self._delete_options(request, await self._body(request))
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
                        dry_run=dry_run,
                        grace_period_seconds=grace,
                    )
                )
            except ApiError as error:
                if error.code != 404:  # already gone through garbage collection
                    raise
        return _json(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": {"resourceVersion": rv},
                "items": deleted,
            }
        )

    # -- subresources --------------------------------------------------------------------------------

    async def _log(self, request: web.Request, target: Target, query: Any) -> web.StreamResponse:
        pod = await self.store.get(target.rt, target.namespace, target.name or "")
        containers = [c.get("name") for c in pod["spec"].get("containers") or []]
        init_containers = [c.get("name") for c in pod["spec"].get("initContainers") or []]
        container = query.get("container")
        if not container:
            if len(containers) != 1:
                raise bad_request(
                    f"a container name must be specified for pod {target.name}, choose one of: [{' '.join(containers)}]"
                    + (
                        f" or one of the init containers: [{' '.join(init_containers)}]"
                        if init_containers
                        else ""
                    )
                )
            container = containers[0]
        if container not in containers + init_containers:
            raise bad_request(f"container {container} is not valid for pod {target.name}")
        status = pod.get("status") or {}
        statuses = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
        current = next((s for s in statuses if s.get("name") == container), None)
        previous = _truthy(query.get("previous"))
        if current is None or (
            (current.get("state") or {}).get("waiting") and not previous and not current.get("restartCount")
        ):
            reason = ((current or {}).get("state") or {}).get("waiting", {}).get(
                "reason"
            ) or "ContainerCreating"
            raise bad_request(f'container "{container}" in pod "{target.name}" is waiting to start: {reason}')
        tail = query.get("tailLines")
        attempt = int(current.get("restartCount") or 0)
        timestamps = _truthy(query.get("timestamps"))
        namespace, name = target.namespace or "", target.name or ""
        text = self.logs.read(
            namespace,
            name,
            container,
            previous=previous,
            tail_lines=int(tail) if tail is not None else None,
            attempt=attempt,
            timestamps=timestamps,
        )
        if previous or not _truthy(query.get("follow")):
            return web.Response(text=text, content_type="text/plain")
        return await self._follow_log(request, target, container, attempt, text, timestamps)

    async def _follow_log(
        self, request: web.Request, target: Target, container: str, attempt: int, text: str, timestamps: bool
    ) -> web.StreamResponse:
        """``follow=true``: stream new lines until the container run ends, as a kubelet does."""
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        namespace, name = target.namespace or "", target.name or ""
        sent = self.logs.read(namespace, name, container, attempt=attempt, timestamps=timestamps)
        with _until_client_leaves(request):
            await response.write(text.encode())
            while True:
                await asyncio.sleep(_LOG_POLL_SECONDS)
                if request.transport is None or request.transport.is_closing():
                    break  # the follower went away: stop polling for it
                try:
                    pod = await self.store.get(target.rt, target.namespace, name)
                except ApiError:
                    break
                statuses = (pod.get("status") or {}).get("containerStatuses") or []
                status = next((s for s in statuses if s.get("name") == container), {})
                latest = self.logs.read(namespace, name, container, attempt=attempt, timestamps=timestamps)
                if len(latest) > len(sent):
                    await response.write(latest[len(sent) :].encode())
                    sent = latest
                if int(status.get("restartCount") or 0) != attempt or (status.get("state") or {}).get(
                    "terminated"
                ):
                    break
            await response.write_eof()
        return response

    def _scale_of(self, obj: dict) -> dict:
        meta = obj["metadata"]
        selector = (obj.get("spec") or {}).get("selector") or {}
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": ",".join(
                    f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())
                ),
            },
        }

    async def _scale(self, request: web.Request, target: Target, verb: str) -> web.Response:
        obj = await self.store.get(target.rt, target.namespace, target.name or "")
        if verb == "get":
            return _json(self._scale_of(obj))
        if verb not in ("update", "patch"):
            raise method_not_allowed("the server does not allow this method on the requested resource")
        manager = self._field_manager(request, verb)
        body = await self._body(request)
        if verb == "patch":
            body = apply_patch(target.rt, self._scale_of(obj), request.headers.get("Content-Type", ""), body)
        replicas = ((body or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{target.name}" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0',
            )
        patch = {"spec": {"replicas": replicas}}
        wanted = ((body or {}).get("metadata") or {}).get("resourceVersion")
        if wanted:
            patch["metadata"] = {"resourceVersion": wanted}
        updated = await self.store.patch(
            target.rt,
            target.namespace,
            target.name or "",
            "application/merge-patch+json",
            patch,
            subresource="scale",
            dry_run=self._dry_run(request),
            field_manager=manager,
        )
        return _json(self._scale_of(updated))

    async def _bind(self, request: web.Request, target: Target) -> web.Response:
        body = await self._body(request)
        node = ((body or {}).get("target") or {}).get("name")
        if not node:
            raise ApiError(422, "Invalid", f'Binding "{target.name}" is invalid: target.name: Required value')
        await self.store.bind(target.namespace or "", target.name or "", node)
        return _json(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
        )


def build_app(
    store: Store, logs: PodLogs, faults: Faults, *, bookmark_interval: float = 10.0
) -> web.Application:
    """The API server application; ``bookmark_interval`` is how often quiet watches get BOOKMARKs."""
    api = Api(store, logs, faults, bookmark_interval)
    app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=[api.middleware])
    router = app.router
    router.add_get("/version", api.version)
    for probe in ("/healthz", "/livez", "/readyz"):
        router.add_get(probe, api.health)
    router.add_get("/api", api.core_versions)
    router.add_get("/apis", api.groups)
    router.add_get("/openapi/v3", api.openapi_index)
    router.add_get("/openapi/v3/{path:.*}", api.openapi_document)
    router.add_post("/sandbox/faults", api.set_faults)
    router.add_delete("/sandbox/faults", api.clear_faults)
    router.add_get("/api/{version}", api.resource_list)
    router.add_route("*", "/api/{version}/{rest:.+}", api.resource)
    router.add_get("/apis/{group}", api.group)
    router.add_get("/apis/{group}/{version}", api.resource_list)
    router.add_route("*", "/apis/{group}/{version}/{rest:.+}", api.resource)
    return app
