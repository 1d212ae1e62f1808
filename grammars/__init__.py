"""Decoding contracts: JSON Schema templates rendered with the values of one request.

The sidecar renders them for a request that names a grammar (`inference/engine.py`); the operator's
investigation names them and validates the answers with the pydantic mirrors in `models.py`.

The templates are data (`step.json`, `final.json`); rendering fills them with the names that exist
right now, so a grammar-constrained model can only name tools, objects, causes and steps that are
real. The model never writes a patch: a fix is built from the cluster's facts and vetted in code.
Two directives keep the files declarative:

- ``{"$param": NAME}`` is replaced by the value NAME (a non-empty list);
- ``{"$select": NAME, "from": {key: schema}}`` becomes the list of schemas whose key is in NAME, in order.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any

from smart_sre_grammars.values import ROOT_CAUSES, TOOLS, TemplateValues

__all__ = ["NAMES", "ROOT_CAUSES", "TOOLS", "TemplateError", "TemplateValues", "render", "template"]

NAMES: tuple[str, ...] = ("step", "final")


class TemplateError(ValueError):
    """A template cannot be rendered with the values given."""


@cache
def _load(name: str) -> dict[str, Any]:
    if name not in NAMES:
        raise TemplateError(f"unknown grammar {name!r}; known grammars: {', '.join(NAMES)}")
    return json.loads(files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8"))


def template(name: str) -> dict[str, Any]:
    """The raw template (a copy), directives included."""
    return copy.deepcopy(_load(name))


def render(name: str, values: TemplateValues | dict[str, Any]) -> dict[str, Any]:
    """A plain JSON Schema for one request: directives resolved, comments dropped."""
    if not isinstance(values, TemplateValues):
        values = TemplateValues.model_validate(values)
    return _resolve(template(name), values, name)


def _resolve(node: Any, values: TemplateValues, name: str) -> Any:
    if isinstance(node, list):
        return [_resolve(item, values, name) for item in node]
    if not isinstance(node, dict):
        return node
    if "$param" in node:
        return list(_value(values, node["$param"], name))
    if "$select" in node:
        chosen = _value(values, node["$select"], name)
        unknown = [key for key in chosen if key not in node["from"]]
        if unknown:
            raise TemplateError(f"grammar {name!r}: {node['$select']} has unknown entries {unknown}")
        return [_resolve(node["from"][key], values, name) for key in chosen]
    return {key: _resolve(item, values, name) for key, item in node.items() if key != "$comment"}


def _value(values: TemplateValues, key: str, name: str) -> list[Any]:
    value = getattr(values, key, None)
    if not value:
        raise TemplateError(
            f"grammar {name!r} needs a non-empty {key!r}; pass it in the grammar values "
            f"(or leave out the tool or field that uses it)"
        )
    return value
