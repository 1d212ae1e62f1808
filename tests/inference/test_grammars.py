"""The decoding contracts: templates render per request, and their pydantic mirrors agree with them."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

import smart_sre_grammars as grammars
from smart_sre_grammars.models import parse
from smart_sre_grammars.values import TOOLS

VALUES = grammars.TemplateValues(
    tools=TOOLS,
    pods=("web-7d9f-abcde",),
    containers=("app", "sidecar"),
    objects=("Pod/web-7d9f-abcde", "Deployment/web"),
    nodes=("node-a",),
    services=("redis",),
    steps=(1, 2, 3),
)

STEP_OK = {
    "observation": "The container exited with code 1.",
    "thought": "The logs should say why.",
    "action": {
        "tool": "fetch_logs",
        "args": {"pod": "web-7d9f-abcde", "container": "app", "previous": True, "tail": 50},
    },
}
FINAL_OK = {
    "findings": {
        "summary": "redis is not reachable",
        "rootCause": "DependencyUnavailable",
        "confidence": "high",
        "evidence": [1, 2],
    },
}


def _with(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    import copy

    changed = copy.deepcopy(document)
    node = changed
    for key in path[:-1]:
        node = node[key]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return changed


_DROP = object()

# (grammar, document, valid?) — both the rendered schema and the pydantic mirror must agree on each.
CORPUS: list[tuple[str, Any, bool]] = [
    ("step", STEP_OK, True),
    ("step", _with(STEP_OK, ("action",), {"tool": "finish"}), True),
    (
        "step",
        _with(STEP_OK, ("action",), {"tool": "check_service", "args": {"name": "redis", "port": 6379}}),
        True,
    ),
    (
        "step",
        _with(STEP_OK, ("action",), {"tool": "inspect_object", "args": {"object": "Deployment/web"}}),
        True,
    ),
    ("step", _with(STEP_OK, ("action",), {"tool": "get_resource_usage", "args": {"node": "node-a"}}), True),
    (
        "step",
        _with(STEP_OK, ("action",), {"tool": "explain_scheduling", "args": {"pod": "web-7d9f-abcde"}}),
        True,
    ),
    ("step", _with(STEP_OK, ("action", "args", "pod"), "other-pod"), False),
    ("step", _with(STEP_OK, ("action", "args", "tail"), 500), False),
    ("step", _with(STEP_OK, ("action", "args", "previous"), "yes"), False),
    ("step", _with(STEP_OK, ("action", "tool"), "delete_pod"), False),
    ("step", _with(STEP_OK, ("action", "args", "extra"), 1), False),
    ("step", _with(STEP_OK, ("extra",), "x"), False),
    ("step", _with(STEP_OK, ("thought",), ""), False),
    ("step", _with(STEP_OK, ("thought",), "x" * 241), False),
    ("step", _with(STEP_OK, ("observation",), _DROP), False),
    ("step", _with(STEP_OK, ("action",), {"tool": "inspect_object", "args": {"object": "Secret/db"}}), False),
    (
        "step",
        _with(STEP_OK, ("action",), {"tool": "check_service", "args": {"name": "redis", "port": 0}}),
        False,
    ),
    ("final", FINAL_OK, True),
    ("final", _with(FINAL_OK, ("patch",), None), False),
    (
        "final",
        _with(
            FINAL_OK, ("patch",), {"target": "Deployment/web", "operations": [{"op": "remove", "path": "/x"}]}
        ),
        False,
    ),
    ("final", _with(FINAL_OK, ("findings",), _DROP), False),
    ("final", _with(FINAL_OK, ("findings", "rootCause"), "Gremlins"), False),
    ("final", _with(FINAL_OK, ("findings", "summary"), "s" * 401), False),
    ("final", _with(FINAL_OK, ("findings", "evidence"), [9]), False),
    ("final", _with(FINAL_OK, ("findings", "confidence"), 0.9), False),
]


@pytest.mark.parametrize(("name", "document", "valid"), CORPUS)
def test_schema_and_mirror_agree(name: str, document: Any, valid: bool) -> None:
    schema = grammars.render(name, VALUES)
    schema_says = jsonschema.Draft202012Validator(schema).is_valid(document)
    try:
        parse(name, document, VALUES)
        mirror_says = True
    except ValidationError:
        mirror_says = False
    assert (schema_says, mirror_says) == (valid, valid)


@pytest.mark.parametrize("name", grammars.NAMES)
def test_rendered_templates_are_valid_closed_json_schema(name: str) -> None:
    schema = grammars.render(name, VALUES)
    jsonschema.Draft202012Validator.check_schema(schema)
    text = str(schema)
    assert "$param" not in text
    assert "$select" not in text

    def objects(node: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if isinstance(node, dict):
            if node.get("type") == "object":
                found.append(node)
            for value in node.values():
                found += objects(value)
        elif isinstance(node, list):
            for value in node:
                found += objects(value)
        return found

    assert all(obj.get("additionalProperties") is False for obj in objects(schema))


def test_step_offers_only_the_tools_of_the_request() -> None:
    values = VALUES.model_copy(update={"tools": ("check_service", "finish")})
    schema = grammars.render("step", values)
    tools = [branch["properties"]["tool"]["const"] for branch in schema["properties"]["action"]["anyOf"]]
    assert tools == ["check_service", "finish"]
    fetch = STEP_OK
    assert not jsonschema.Draft202012Validator(schema).is_valid(fetch)
    with pytest.raises(ValidationError):
        parse("step", fetch, values)


def test_missing_values_are_named_in_the_error() -> None:
    with pytest.raises(grammars.TemplateError, match="'pods'"):
        grammars.render("step", grammars.TemplateValues(tools=("fetch_logs",), containers=("app",)))
    with pytest.raises(grammars.TemplateError, match="unknown grammar"):
        grammars.render("nope", VALUES)
    with pytest.raises(ValidationError):
        grammars.TemplateValues(tools=("rm_rf",))


def test_template_values_come_from_a_dict_too() -> None:
    schema = grammars.render("final", {"steps": [0, 1], "root_causes": ["OOMKilled"]})
    assert schema["properties"]["findings"]["properties"]["rootCause"] == {"enum": ["OOMKilled"]}
    assert schema["properties"]["findings"]["properties"]["evidence"]["items"] == {"enum": [0, 1]}


def test_the_final_answer_is_the_findings_alone() -> None:
    schema = grammars.render("final", VALUES)
    assert schema["required"] == ["findings"]
    assert set(schema["properties"]) == {"findings"}
    assert "patch" not in grammars.NAMES
