"""Decoding contracts: JSON Schema templates rendered with the values of one request.

The templates are data (`step.json`, `final.json`, `patch.json`); rendering fills them with the names
that exist right now, so a grammar-constrained model can only name tools, objects and patch paths
that are real. Three directives keep the files declarative:

- ``{"$param": NAME}`` is replaced by the value NAME (a non-empty list);
- ``{"$select": NAME, "from": {key: schema}}`` becomes the list of schemas whose key is in NAME, in order;
- ``{"$include": TEMPLATE}`` embeds another template (its ``$defs`` move to the root);
- ``{"$when": NAME, "schema": schema}`` inside a list is kept only when NAME is non-empty (e.g. the
  patch alternative of the final answer disappears when there is nothing the agent may patch).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any

from smart_sre_grammars.values import ROOT_CAUSES, TOOLS, TemplateValues

__all__ = ["NAMES", "ROOT_CAUSES", "TOOLS", "TemplateError", "TemplateValues", "render", "template"]

NAMES: tuple[str, ...] = ("step", "final", "patch")


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
    defs: dict[str, Any] = {}
    schema = _resolve(template(name), values, defs, name)
    schema.pop("$defs", None)
    defs.update(_load(name).get("$defs", {}))
    if defs:
        schema["$defs"] = _resolve(defs, values, {}, name)
    return schema


def _resolve(node: Any, values: TemplateValues, defs: dict[str, Any], name: str) -> Any:
    if isinstance(node, list):
        kept = [item for item in node if not _is_when(item) or getattr(values, item["$when"])]
        return [_resolve(item["schema"] if _is_when(item) else item, values, defs, name) for item in kept]
    if not isinstance(node, dict):
        return node
    if "$param" in node:
        return list(_value(values, node["$param"], name))
    if "$select" in node:
        chosen = _value(values, node["$select"], name)
        unknown = [key for key in chosen if key not in node["from"]]
        if unknown:
            raise TemplateError(f"grammar {name!r}: {node['$select']} has unknown entries {unknown}")
        return [_resolve(node["from"][key], values, defs, name) for key in chosen]
    if "$include" in node:
        included = template(node["$include"])
        for key, definition in included.pop("$defs", {}).items():
            if defs.setdefault(key, definition) != definition:
                raise TemplateError(f"grammar {name!r}: $defs/{key} differs in {node['$include']!r}")
        return _resolve(included, values, defs, name)
    return {key: _resolve(item, values, defs, name) for key, item in node.items() if key != "$comment"}


def _is_when(node: Any) -> bool:
    return isinstance(node, dict) and "$when" in node


def _value(values: TemplateValues, key: str, name: str) -> list[Any]:
    value = getattr(values, key, None)
    if not value:
        raise TemplateError(
            f"grammar {name!r} needs a non-empty {key!r}; pass it in the grammar values "
            f"(or leave out the tool or field that uses it)"
        )
    return value
