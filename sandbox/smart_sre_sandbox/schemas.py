"""The structure of built-in kinds, read from the ``kubernetes`` client's generated models.

A real API server decodes built-in objects into Go structs: unknown fields are dropped (or rejected
with ``fieldValidation=Strict``) and a value of the wrong JSON type is a 400 BadRequest. The client
models carry the same field names and types (``openapi_types`` / ``attribute_map``), so the sandbox
gets that behaviour for every built-in kind without a schema copy of its own.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from kubernetes.client import models

from .errors import bad_request
from .resources import ResourceType

_LIST = re.compile(r"^List\[(.+)\]$")
_DICT = re.compile(r"^Dict\[str, (.+)\]$")
_QUANTITY_MAPS = ("limits", "requests", "capacity", "allocatable", "hard", "used")
_PRIMITIVES = {
    "str": str,
    "int": int,
    "bool": bool,
    "float": (int, float),
    "bytes": str,
    "datetime": str,
    "date": str,
}


def _quantity(value: Any) -> Any:
    """Resource quantities may be written as JSON numbers; the server stores their canonical string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return f"{round(value * 1000)}m"


@cache
def _fields(model: str) -> dict[str, str] | None:
    """JSON field name -> client type name, for one model class."""
    cls = getattr(models, model, None)
    if cls is None or not hasattr(cls, "openapi_types"):
        return None
    return {cls.attribute_map[attr]: kind for attr, kind in cls.openapi_types.items()}


def model_for(rt: ResourceType) -> str | None:
    prefix = rt.version[0].upper() + rt.version[1:]
    for name in (f"Core{prefix}{rt.kind}", f"{prefix}{rt.kind}"):
        if _fields(name) is not None:
            return name
    return None


class _Walk:
    def __init__(self, rt: ResourceType) -> None:
        self.rt = rt
        self.unknown: list[str] = []

    def value(self, type_name: str, value: Any, path: str) -> Any:
        """The value with unknown fields pruned; wrong JSON types raise 400 like Go's decoder."""
        if value is None or type_name == "object":
            return value
        if match := _LIST.match(type_name):
            if not isinstance(value, list):
                raise self._type_error(value, path, "[]" + match[1])
            return [self.value(match[1], item, f"{path}[{i}]") for i, item in enumerate(value)]
        if match := _DICT.match(type_name):
            if not isinstance(value, dict):
                raise self._type_error(value, path, f"map[string]{match[1]}")
            if path.rsplit(".", 1)[-1] in _QUANTITY_MAPS:
                return {k: _quantity(v) for k, v in value.items()}
            return {k: self.value(match[1], v, f"{path}.{k}") for k, v in value.items()}
        if type_name in _PRIMITIVES:
            integral_float = type_name == "int" and isinstance(value, float) and value.is_integer()
            wrong = not isinstance(value, _PRIMITIVES[type_name]) or (
                type_name == "int" and isinstance(value, bool)
            )
            if wrong and not integral_float:
                raise self._type_error(
                    value, path, {"str": "string", "int": "int64"}.get(type_name, type_name)
                )
            return value
        fields = _fields(type_name)
        if fields is None:
            return value
        if not isinstance(value, dict):
            raise self._type_error(value, path, type_name)
        kept = {}
        for key, member in value.items():
            child = f"{path}.{key}" if path else key
            if key in fields:
                kept[key] = self.value(fields[key], member, child)
            else:
                self.unknown.append(child)
        return kept

    def _type_error(self, value: Any, path: str, expected: str) -> Exception:
        got = {
            str: "string",
            bool: "bool",
            int: "number",
            float: "number",
            list: "array",
            dict: "object",
        }.get(type(value), "value")
        kind, version = self.rt.kind, self.rt.version
        return bad_request(
            f'{kind} in version "{version}" cannot be handled as a {kind}: json: cannot unmarshal {got} into Go struct '
            f"field {kind}.{path} of type {expected}"
        )


def decode(rt: ResourceType, obj: dict) -> tuple[dict, list[str]]:
    """``obj`` as the API server stores it (unknown fields dropped), and the paths of those fields."""
    model = model_for(rt)
    if model is None:
        return obj, []
    walk = _Walk(rt)
    return walk.value(model, obj, ""), walk.unknown
