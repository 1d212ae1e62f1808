"""The subresources with handlers of their own: pods/log (with ``follow``), pods/binding and */scale.

The resource routes (routes_resources.py) hand these requests over once they have resolved the URL
and the verb; status is an ordinary write there, not here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..errors import ApiError, bad_request, method_not_allowed
from ..logs import PodLogs, log_source
from ..patching import apply_patch
from ..store import Store
from .rest import Target, dry_run, field_manager, json_response, read_body, truthy, until_client_leaves

_LOG_POLL_SECONDS = 0.25

Handler = Callable[[web.Request, Target, str], Awaitable[web.StreamResponse]]


def _not_allowed() -> ApiError:
    return method_not_allowed("the server does not allow this method on the requested resource")


def _scale_of(obj: dict) -> dict:
    """The autoscaling/v1 Scale a workload is read and written as through its scale subresource."""
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
            "selector": ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())),
        },
    }


class SubresourceRoutes:
    """Handlers by subresource name; each takes the request, its target and its verb."""

    def __init__(self, store: Store, logs: PodLogs) -> None:
        self.store = store
        self.logs = logs
        self.handlers: dict[str, Handler] = {"log": self.log, "scale": self.scale, "binding": self.bind}

    async def log(self, request: web.Request, target: Target, verb: str) -> web.StreamResponse:
        if verb != "get":
            raise _not_allowed()
        query = request.query
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
        source = log_source(pod, container, previous=truthy(query.get("previous")))
        if source is None:  # no node runs the pod: the API server streams nothing
            return web.Response(status=204)
        attempt = source.attempt
        tail = query.get("tailLines")
        timestamps = truthy(query.get("timestamps"))
        namespace, name = target.namespace or "", target.name or ""
        text = self.logs.read(
            namespace,
            name,
            container,
            tail_lines=int(tail) if tail is not None else None,
            attempt=attempt,
            timestamps=timestamps,
        )
        if not source.running or not truthy(query.get("follow")):
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
        with until_client_leaves(request):
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

    async def scale(self, request: web.Request, target: Target, verb: str) -> web.Response:
        obj = await self.store.get(target.rt, target.namespace, target.name or "")
        if verb == "get":
            return json_response(_scale_of(obj))
        if verb not in ("update", "patch"):
            raise _not_allowed()
        manager = field_manager(request, verb)
        body = await read_body(request)
        if verb == "patch":
            body = apply_patch(target.rt, _scale_of(obj), request.headers.get("Content-Type", ""), body)
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
            dry_run=dry_run(request),
            field_manager=manager,
        )
        return json_response(_scale_of(updated))

    async def bind(self, request: web.Request, target: Target, verb: str) -> web.Response:
        if verb != "create":
            raise _not_allowed()
        body = await read_body(request)
        node = ((body or {}).get("target") or {}).get("name")
        if not node:
            raise ApiError(422, "Invalid", f'Binding "{target.name}" is invalid: target.name: Required value')
        await self.store.bind(target.namespace or "", target.name or "", node)
        return json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
        )
