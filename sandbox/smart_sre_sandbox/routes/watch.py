"""Watch streams over HTTP: ``?watch=true`` on a collection, as newline-delimited JSON events.

The resource routes (routes_resources.py) hand a watch here once they have resolved the URL; the
events come from ``Store.watch``, rendered as Tables when the client asked for them (kubectl get -w).
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from ..errors import ApiError
from ..store import Store
from ..watch import WatchEvent
from .rest import JSON, Target, render, truthy, until_client_leaves

_DEFAULT_WATCH_TIMEOUT = 1800


class WatchRoutes:
    """One handler; ``bookmark_interval`` is how often a quiet stream gets a BOOKMARK (when it allows them)."""

    def __init__(self, store: Store, bookmark_interval: float) -> None:
        self.store = store
        self.bookmark_interval = bookmark_interval

    async def watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        query = request.query
        label_selector, field_selector = query.get("labelSelector"), query.get("fieldSelector")
        self.store.selectors(
            target.rt, label_selector, field_selector
        )  # a bad selector is a 400, not a stream
        timeout = float(query.get("timeoutSeconds") or _DEFAULT_WATCH_TIMEOUT)
        bookmarks = truthy(query.get("allowWatchBookmarks"))
        as_table = "as=Table" in request.headers.get("Accept", "")
        response = web.StreamResponse(
            status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def send(event: WatchEvent) -> None:
            obj = event.object
            if as_table and event.type != "BOOKMARK":
                rv = obj["metadata"].get("resourceVersion", "")
                obj = render(request, self.store, target.rt, [obj], rv, single=True) or obj
            await response.write(
                json.dumps({"type": event.type, "object": obj}, separators=(",", ":")).encode() + b"\n"
            )

        with until_client_leaves(request):
            since = query.get("resourceVersion")
            if truthy(query.get("sendInitialEvents")):
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
