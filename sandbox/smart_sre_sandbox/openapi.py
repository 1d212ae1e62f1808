"""OpenAPI v3 documents: one per group version, plus the /openapi/v3 index; and the OpenAPI v2 document.

Every kind gets its paths with a PATCH operation that declares the ``fieldValidation`` query
parameter; that is how kubectl decides to validate server-side (``--validate=strict``) instead of
downloading OpenAPI v2. Custom resources also get their structural schema, which ``kubectl explain``
renders. Built-in kinds publish no schema, so kubectl computes apply patches from its compiled-in
types (with the real patch merge keys).

A ``kind: List`` has no such path, so kubectl validates it client-side against /openapi/v2 (in
protobuf) before sending each item with ``fieldValidation`` like any object. The v2 document holds no
definitions either: kubectl skips the client-side check of kinds it finds no schema for, and the
server validates each item as it would a single object.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .crds import CustomResources
from .resources import ResourceType

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# kubectl asks for the deprecated subtype with "@"; kube-openapi answers with the ".v1.0" one (Go's mime
# parser rejects the "@").
V2_PROTOBUF_ACCEPTED = (
    "com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "com.github.proto-openapi.spec.v2.v1.0+protobuf",
)
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_INFO = {"title": "Kubernetes", "version": "v1.37.1"}
_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")

_OBJECT_META_SCHEMA: dict[str, Any] = {
    "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "namespace": {
            "type": "string",
            "description": "Namespace defines the space within which each name must be unique.",
        },
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string", "default": ""},
            "description": "Map of string keys and values that can be used to organize and categorize objects.",
        },
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string", "default": ""},
            "description": "Annotations is an unstructured key value map stored with a resource.",
        },
        "uid": {
            "type": "string",
            "description": "UID is the unique in time and space value for this object.",
        },
        "resourceVersion": {
            "type": "string",
            "description": "An opaque value that represents the internal version of this object.",
        },
        "generation": {
            "type": "integer",
            "format": "int64",
            "description": "A sequence number representing a specific generation of the desired state.",
        },
        "creationTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "Time when this object was created.",
        },
        "deletionTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "Time when this object will be deleted.",
        },
        "finalizers": {
            "type": "array",
            "items": {"type": "string", "default": ""},
            "description": "Must be empty before the object is deleted from the registry.",
        },
        "ownerReferences": {
            "type": "array",
            "items": {"type": "object"},
            "description": "List of objects depended by this object.",
        },
    },
}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rt: ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _operation(rt: ResourceType, action: str) -> dict[str, Any]:
    return {
        "operationId": f"{action}{rt.kind}",
        "parameters": [
            {"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for p in _QUERY_PARAMS
        ],
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rt),
    }


def _paths(rt: ResourceType) -> dict[str, Any]:
    base = f"/{_gv_path(rt.group, rt.version)}"
    scope = f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
    paths = {
        scope: {"get": _operation(rt, "list"), "post": _operation(rt, "post")},
        f"{scope}/{{name}}": {
            "get": _operation(rt, "get"),
            "put": _operation(rt, "put"),
            "patch": _operation(rt, "patch"),
            "delete": _operation(rt, "delete"),
        },
    }
    if "status" in rt.subresources:
        paths[f"{scope}/{{name}}/status"] = {
            "get": _operation(rt, "get"),
            "put": _operation(rt, "put"),
            "patch": _operation(rt, "patch"),
        }
    return paths


def _published_schema(rt: ResourceType, schema: dict) -> dict[str, Any]:
    """The CRD schema as the API server publishes it: apiVersion, kind and metadata described."""
    published = copy.deepcopy(schema)
    published.setdefault("type", "object")
    properties = published.setdefault("properties", {})
    properties["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object.",
    }
    properties["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents.",
    }
    properties["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}],
        "description": "Standard object's metadata.",
    }
    published["x-kubernetes-group-version-kind"] = [_gvk(rt)]
    return published


def document(
    types: list[ResourceType], crds: CustomResources, group: str, version: str
) -> dict[str, Any] | None:
    """The OpenAPI v3 document for one group version, or None when it is not served."""
    served = [t for t in types if t.group == group and t.version == version]
    if not served:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in served:
        paths.update(_paths(rt))
        schema = crds.schema_for(rt)
        if schema is not None:
            schemas[_schema_name(rt)] = _published_schema(rt, schema)
    if schemas:
        schemas[OBJECT_META] = _OBJECT_META_SCHEMA
    return {
        "openapi": "3.0.0",
        "info": dict(_INFO),
        "paths": paths,
        "components": {"schemas": schemas},
    }


def index(types: list[ResourceType], crds: CustomResources) -> dict[str, Any]:
    """``/openapi/v3``: each group version with a content hash, so clients re-fetch after CRD changes."""
    paths: dict[str, Any] = {}
    for group, version in sorted({(t.group, t.version) for t in types}):
        doc = document(types, crds, group, version)
        digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()
        paths[_gv_path(group, version)] = {
            "serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"
        }
    return {"paths": paths}


def v2_document() -> dict[str, Any]:
    """``/openapi/v2`` as JSON: the swagger header, no paths and no definitions (see the module doc)."""
    return {"swagger": "2.0", "info": dict(_INFO), "paths": {}, "definitions": {}}


def v2_protobuf() -> bytes:
    """The same document as gnostic's openapi_v2.Document protobuf (swagger = 1, info = 2 with title = 1
    and version = 2), what kubectl's discovery client asks for."""
    info = _field(1, _INFO["title"].encode()) + _field(2, _INFO["version"].encode())
    return _field(1, b"2.0") + _field(2, info)


def _field(number: int, value: bytes) -> bytes:
    """One length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _varint(value: int) -> bytes:
    encoded = bytearray()
    while value > 0x7F:
        encoded.append(value & 0x7F | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)
