"""Kubernetes-shaped API errors.

Every failure the sandbox reports travels as an :class:`ApiError` and is rendered as the same
``Status`` object a real kube-apiserver returns, so kubectl, the ``kubernetes`` client and Kopf
print and react to it exactly as they would against a real cluster.
"""

from __future__ import annotations

import json
from typing import Any

from .resources import ResourceType


class ApiError(Exception):
    """An API failure with the HTTP code, ``reason`` and ``causes`` a real API server would send."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        causes: list[dict] | None = None,
        *,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes
        self.details = dict(details or {})
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        """The ``Status`` body for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details = dict(self.details)
        if self.causes:
            details["causes"] = self.causes
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            body["details"] = details
        return body

    def body(self) -> bytes:
        return json.dumps(self.status()).encode()

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.reason!r}, {self.message!r})"


def qualified(rt: ResourceType) -> str:
    """``pods`` or ``deployments.apps``: how the API server names a resource in messages."""
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def _details(rt: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(rt)} "{name}" not found', details=_details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{qualified(rt)} "{name}" already exists', details=_details(rt, name)
    )


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(rt)} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        details=_details(rt, name),
    )


def invalid(rt: ResourceType, name: str, causes: list[dict]) -> ApiError:
    """422 Invalid: ``Pod "x" is invalid: spec.containers[0].image: Required value``."""
    group_kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    rendered = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    joined = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    details: dict[str, Any] = {"name": name, "kind": rt.kind}
    if rt.group:
        details["group"] = rt.group
    return ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: {joined}', causes, details=details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def strict_decoding(rt: ResourceType, unknown: list[str]) -> ApiError:
    """``fieldValidation=Strict`` and fields the kind does not declare."""
    listed = ", ".join(f'unknown field "{f}"' for f in unknown)
    return bad_request(
        f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding error: {listed}'
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}",
        details={"causes": [{"reason": "UnexpectedServerResponse", "message": content_type}]},
    )


def forbidden(rt: ResourceType, name: str, message: str) -> ApiError:
    return ApiError(
        403, "Forbidden", f'{qualified(rt)} "{name}" is forbidden: {message}', details=_details(rt, name)
    )


# Field errors, worded like k8s.io/apimachinery/pkg/util/validation/field.


def _render(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    return '"object"' if isinstance(value, dict) else '"array"'


def required(field: str, detail: str = "") -> dict:
    message = "Required value" + (f": {detail}" if detail else "")
    return {"reason": "FieldValueRequired", "message": message, "field": field}


def invalid_value(field: str, value: Any, detail: str) -> dict:
    return {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {_render(value)}: {detail}",
        "field": field,
    }


def unsupported(field: str, value: Any, supported: list[Any]) -> dict:
    options = ", ".join(_render(s) for s in supported)
    return {
        "reason": "FieldValueNotSupported",
        "message": f"Unsupported value: {_render(value)}: supported values: {options}",
        "field": field,
    }


def too_long(field: str, limit: int) -> dict:
    return {
        "reason": "FieldValueTooLong",
        "message": f"Too long: may not be more than {limit} bytes",
        "field": field,
    }


def too_many(field: str, actual: int, limit: int) -> dict:
    return {
        "reason": "FieldValueTooMany",
        "message": f"Too many: {actual}: must have at most {limit} items",
        "field": field,
    }


def type_invalid(field: str, value: Any, expected: str) -> dict:
    return {
        "reason": "FieldValueTypeInvalid",
        "message": f"Invalid value: {_render(value)}: {field} in body must be of type {expected}: {_render(value)}",
        "field": field,
    }


def forbidden_field(field: str, detail: str) -> dict:
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def duplicate(field: str, value: Any) -> dict:
    shown = json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else _render(value)
    return {"reason": "FieldValueDuplicate", "message": f"Duplicate value: {shown}", "field": field}
