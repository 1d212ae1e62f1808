"""Discovery and OpenAPI routes: what kubectl and client-go read to learn the served types and their schemas.

server.py mounts these next to the resource routes; every document is built from the Store's served
types, so a CRD shows up as soon as it is created.
"""

from __future__ import annotations

from aiohttp import web

from .. import discovery, openapi
from ..faults import Faults
from ..store import Store
from .rest import json_response, unknown_path


def _wants_aggregated(request: web.Request) -> bool:
    """Clients that accept aggregated discovery (kubectl, client-go) get every group in one request."""
    accept = request.headers.get("Accept", "")
    return "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept


class DiscoveryRoutes:
    """/version, the health probes, /api and /apis discovery, /openapi/v2 and /openapi/v3."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/version", self.version),
            *(web.get(probe, self.health) for probe in ("/healthz", "/livez", "/readyz")),
            web.get("/api", self.core_versions),
            web.get("/apis", self.groups),
            web.get("/openapi/v2", self.openapi_v2),
            web.get("/openapi/v3", self.openapi_index),
            web.get("/openapi/v3/{path:.*}", self.openapi_document),
            web.get("/api/{version}", self.resource_list),
            web.get("/apis/{group}", self.group),
            web.get("/apis/{group}/{version}", self.resource_list),
        ]

    async def version(self, request: web.Request) -> web.Response:
        self.faults.check("get", request.path)
        return json_response(discovery.KUBE_VERSION)

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
            return json_response(discovery.aggregated(types, core=core), content_type=discovery.AGGREGATED)
        return json_response(
            discovery.api_versions(request.host) if core else discovery.api_group_list(types)
        )

    async def group(self, request: web.Request) -> web.Response:
        document = discovery.api_group(self.store.resource_types(), request.match_info["group"])
        if document is None:
            raise unknown_path()
        return json_response(document)

    async def resource_list(self, request: web.Request) -> web.Response:
        self.faults.check("get", request.path)
        group = request.match_info.get("group", "")
        document = discovery.api_resource_list(
            self.store.resource_types(), group, request.match_info["version"]
        )
        if document is None:
            raise unknown_path()
        return json_response(document)

    async def openapi_v2(self, request: web.Request) -> web.Response:
        """Protobuf when the client asks for it (kubectl validating a List), JSON otherwise."""
        accept = request.headers.get("Accept", "")
        if any(subtype in accept for subtype in openapi.V2_PROTOBUF_ACCEPTED):
            return web.Response(body=openapi.v2_protobuf(), headers={"Content-Type": openapi.V2_PROTOBUF})
        return json_response(openapi.v2_document())

    async def openapi_index(self, request: web.Request) -> web.Response:
        return json_response(openapi.index(self.store.resource_types(), self.store.crds))

    async def openapi_document(self, request: web.Request) -> web.Response:
        parts = request.match_info["path"].strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[0] == "apis" and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            raise unknown_path()
        document = openapi.document(self.store.resource_types(), self.store.crds, group, version)
        if document is None:
            raise unknown_path()
        return json_response(document)
