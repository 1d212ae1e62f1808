"""What every route module of the HTTP API shares: encoded responses, decoded bodies, common query options.

server.py assembles the application from the route modules (routes/); they turn requests into
Store calls with these helpers, so each answers and parses the way kubectl and client-go expect.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from .. import managed_fields, protobuf, tables
from ..errors import ApiError, bad_request
from ..resources import ResourceType
from ..store import Store

logger = logging.getLogger(__name__)

JSON = "application/json"


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def json_response(body: Any, status: int = 200, content_type: str = JSON) -> web.Response:
    encoded = json.dumps(body, separators=(",", ":")).encode()
    return web.Response(body=encoded, status=status, headers={"Content-Type": content_type})


def unknown_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


@contextlib.contextmanager
def until_client_leaves(request: web.Request) -> Iterator[None]:
    """End a stream quietly when its client hangs up: `rollout status` done, Ctrl-C on `logs -f`."""
    try:
        yield
    except ConnectionResetError:
        logger.debug("client went away method=%s path=%s", request.method, request.path)


async def read_body(request: web.Request) -> Any:
    """The request body as JSON, YAML or protobuf, by its Content-Type; None when empty."""
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


def dry_run(request: web.Request, options: dict | None = None) -> bool:
    """``dryRun=All`` in the query (or, for deletes, in the DeleteOptions body)."""
    values = request.query.getall("dryRun", [])
    if options and isinstance(options.get("dryRun"), list):
        values = [*values, *options["dryRun"]]
    for value in values:
        if value != "All":
            raise bad_request(f'Invalid value: "{value}": supported values: "All"')
    return bool(values)


def field_manager(request: web.Request, verb: str, *, apply: bool = False) -> str:
    """The ``fieldManager`` parameter, else the User-Agent's product (``kubectl``, ``OpenAPI-Generator``)."""
    manager = request.query.get("fieldManager", "")
    managed_fields.check_manager(verb, manager, apply=apply)
    return manager or managed_fields.manager_from_user_agent(request.headers.get("User-Agent", ""))


def render(
    request: web.Request, store: Store, rt: ResourceType, objects: list[dict], rv: str, *, single: bool
) -> dict | None:
    """A Table or PartialObjectMetadata rendering when the Accept header asks for one, else None."""
    accept = request.headers.get("Accept", "")
    if "as=Table" in accept:
        version = store.crds.version(rt)
        return tables.table(
            rt,
            objects,
            now=store.clock(),
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
