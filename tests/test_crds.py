"""The CRDs in crds/ are valid structural schemas, and the pydantic models in smart_sre.api agree with them.

Agreement is checked generically: both schemas are walked side by side, so a field, bound, enum or
default added to one and not the other fails here. Examples are validated with jsonschema plus the
CRD's CEL rules (cel-python, as the sandbox API server does) and with the models, and must agree.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import GenerateJsonSchema

from smart_sre.api import (
    API_VERSION,
    DebugPolicy,
    DiagnosticReport,
    parse_duration,
    patch_sha256,
)
from smart_sre.api.common import GROUP, VERSION
from smart_sre.api.debugpolicy import FORBIDDEN_PATH_WORDS
from smart_sre.api.diagnosticreport import MAX_PATCH_VALUE_CHARS, PatchOperation, PatchTarget

ROOT = Path(__file__).resolve().parents[1]
CRDS = {
    "DebugPolicy": (ROOT / "crds" / "debugpolicy.yaml", DebugPolicy),
    "DiagnosticReport": (ROOT / "crds" / "diagnosticreport.yaml", DiagnosticReport),
}
MiB = 1024 * 1024


def load_crd(kind: str) -> dict[str, Any]:
    return yaml.safe_load(CRDS[kind][0].read_text())


def crd_schema(kind: str) -> dict[str, Any]:
    (version,) = load_crd(kind)["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def schema_nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path, e.g. `.spec.rules[].selector`."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


# --- CEL and jsonschema: what the API server does with a CRD schema -------------------------------------

_cel = celpy.Environment()


def rule_errors(node: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """The CEL rules and list types under `node`, checked on `value` (as on create: no transition rules)."""
    errors = []
    for rule in node.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:
            continue
        program = _cel.program(_cel.compile(rule["rule"]))
        result = program.evaluate({"self": celpy.json_to_cel(value)})
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            errors.append(f"{path}: {rule['message']}")
    if isinstance(value, dict):
        for name, child in node.get("properties", {}).items():
            if name in value:
                errors += rule_errors(child, value[name], f"{path}.{name}")
    if isinstance(value, list) and "items" in node:
        errors += list_type_errors(node, value, path)
        for index, item in enumerate(value):
            errors += rule_errors(node["items"], item, f"{path}[{index}]")
    return errors


def list_type_errors(node: dict[str, Any], value: list[Any], path: str) -> list[str]:
    """Duplicates in a `set` list, or map-list items sharing their keys, are refused by the API server."""
    match node.get("x-kubernetes-list-type"):
        case "set":
            keys = [json.dumps(item, sort_keys=True) for item in value]
        case "map":
            keys = [json.dumps([item.get(k) for k in node["x-kubernetes-list-map-keys"]]) for item in value]
        case _:
            return []
    return [f"{path}: duplicate entries"] if len(set(keys)) != len(keys) else []


_formats = jsonschema.FormatChecker([])


@_formats.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo)


def server_errors(kind: str, document: dict[str, Any]) -> list[str]:
    schema = crd_schema(kind)
    validator = jsonschema.Draft7Validator(schema, format_checker=_formats)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    return errors + rule_errors(schema, document)


def apply_crd_defaults(node: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it: absent fields get defaults, top-down."""
    if isinstance(value, dict) and "properties" in node:
        for name, child in node["properties"].items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = apply_crd_defaults(child, value[name])
    if isinstance(value, list) and "items" in node:
        value = [apply_crd_defaults(node["items"], item) for item in value]
    return value


# --- The CRDs are structural and documented -------------------------------------------------------------


@pytest.mark.parametrize("kind", CRDS)
def test_crd_is_structural(kind: str) -> None:
    problems = []
    for path, node in schema_nodes(crd_schema(kind)):
        if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            problems.append(f"{path}: no type and not x-kubernetes-preserve-unknown-fields")
        for forbidden in ("$ref", "definitions", "allOf", "anyOf", "oneOf", "not", "additionalItems"):
            if forbidden in node:
                problems.append(f"{path}: {forbidden} is not allowed in a structural schema")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties are mutually exclusive")
        if node.get("uniqueItems"):
            problems.append(f"{path}: uniqueItems must not be true (use x-kubernetes-list-type)")
        if "items" in node and not isinstance(node["items"], dict):
            problems.append(f"{path}: items must be one schema")
        for key in node.get("x-kubernetes-list-map-keys", []):
            if key not in node["items"].get("required", []):
                problems.append(f"{path}: list map key {key} must be required")
        if "default" in node:
            defaulted = apply_crd_defaults(node, copy.deepcopy(node["default"]))
            errors = list(jsonschema.Draft7Validator(node).iter_errors(defaulted))
            problems += [f"{path}: default is invalid: {e.message}" for e in errors]
        for rule in node.get("x-kubernetes-validations", []):
            _cel.compile(rule["rule"])  # raises on a syntax error
            if not rule.get("message"):
                problems.append(f"{path}: CEL rule {rule['rule']!r} has no message")
    metadata = crd_schema(kind)["properties"]["metadata"]
    if set(metadata) - {"type", "description"}:
        problems.append(".metadata: only the API server may constrain metadata")
    assert problems == []


@pytest.mark.parametrize("kind", CRDS)
def test_every_field_is_documented_for_kubectl_explain(kind: str) -> None:
    undocumented = [
        path or "(root)" for path, node in schema_nodes(crd_schema(kind)) if not node.get("description")
    ]
    assert undocumented == []


@pytest.mark.parametrize("kind", CRDS)
def test_every_string_and_list_is_bounded(kind: str) -> None:
    unbounded = []
    for path, node in schema_nodes(crd_schema(kind)):
        if path.startswith((".apiVersion", ".kind", ".metadata")):
            continue
        kind_of = node.get("type")
        bounded = {
            "string": "maxLength" in node
            or "enum" in node
            or "format" in node
            or re.fullmatch(r"\^.*\{\d+\}\$", node.get("pattern", "")),
            "array": "maxItems" in node,
            "object": "properties" in node or "maxProperties" in node,
        }.get(kind_of, True)
        if not bounded:
            unbounded.append(path)
    assert unbounded == []


def test_crd_identities() -> None:
    policy, report = load_crd("DebugPolicy")["spec"], load_crd("DiagnosticReport")["spec"]
    for spec in (policy, report):
        assert spec["group"] == GROUP
        assert [(v["name"], v["served"], v["storage"]) for v in spec["versions"]] == [(VERSION, True, True)]
        assert spec["versions"][0]["subresources"] == {"status": {}}
        assert "sre" in spec["names"]["categories"]
    assert policy["scope"] == "Cluster"
    assert report["scope"] == "Namespaced"
    assert report["names"]["shortNames"] == ["dr"]
    columns = [column["name"] for column in report["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Pod", "Trigger", "Phase", "Root Cause", "Confidence", "Age"]


def test_report_identity_is_immutable() -> None:
    """podRef, workloadRef, trigger and policyRef carry `self == oldSelf`: a report never changes subject."""
    spec = report_example()["spec"]
    fields = crd_schema("DiagnosticReport")["properties"]["spec"]["properties"]
    immutable = {
        name
        for name, node in fields.items()
        if any("oldSelf" in r["rule"] for r in node.get("x-kubernetes-validations", []))
    }
    assert immutable == {"podRef", "workloadRef", "trigger", "policyRef"}
    changed = {"podRef": {**spec["podRef"], "uid": "other"}, "workloadRef": {**spec["workloadRef"], "name": "x"},
               "trigger": "OOMKilled", "policyRef": {"name": "other"}}  # fmt: skip
    for name in immutable:
        (rule,) = fields[name]["x-kubernetes-validations"]
        program = _cel.program(_cel.compile(rule["rule"]))
        for new, expected in ((spec[name], True), (changed[name], False)):
            result = program.evaluate(
                {"self": celpy.json_to_cel(new), "oldSelf": celpy.json_to_cel(spec[name])}
            )
            assert bool(result) is expected, (name, new)


def test_forbidden_paths_rule_names_every_forbidden_field() -> None:
    allowed_paths = crd_schema("DebugPolicy")["properties"]["spec"]["properties"]["remediation"][
        "properties"
    ]["allowedPaths"]
    (rule,) = allowed_paths["x-kubernetes-validations"]
    assert all(word.lower() in rule["rule"] for word in FORBIDDEN_PATH_WORDS)


# --- The pydantic models agree with the CRDs ------------------------------------------------------------


class _WithFactoryDefaults(GenerateJsonSchema):
    """Show `default_factory` values in the JSON schema, so they can be compared with the CRD's defaults."""

    def get_default_value(self, schema: Any) -> Any:
        if "default_factory" in schema and not schema.get("default_factory_takes_data"):
            return schema["default_factory"]()
        return super().get_default_value(schema)


_COMPARED = ("type", "enum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "minimum", "maximum",
             "maxProperties", "x-kubernetes-list-type", "x-kubernetes-list-map-keys")  # fmt: skip


def _model_node(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON-schema node with references resolved and `X | None = None` reduced to X."""
    if "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option != {"type": "null"}]
        assert len(options) == 1, f"unexpected union {node['anyOf']}"
        node = {**_model_node(options[0], defs), **{k: v for k, v in node.items() if k != "anyOf"}}
    if node.get("default", ...) is None:
        node = {k: v for k, v in node.items() if k != "default"}
    return node


def _crd_default(node: dict[str, Any]) -> Any:
    return apply_crd_defaults(node, copy.deepcopy(node["default"])) if "default" in node else None


def schema_differences(
    crd: dict[str, Any], model: dict[str, Any], defs: dict[str, Any], path: str
) -> list[str]:
    model = _model_node(model, defs)
    differences = []
    if crd.get("x-kubernetes-preserve-unknown-fields") and "type" not in crd:
        return (
            []
            if set(model) <= {"title", "description", "default"}
            else [f"{path}: CRD takes any JSON, model {model}"]
        )
    for key in _COMPARED:
        crd_value, model_value = crd.get(key), model.get(key)
        if key == "minItems" and not crd_value and not model_value:
            continue
        if crd_value != model_value:
            differences.append(f"{path}: {key} is {crd_value!r} in the CRD, {model_value!r} in the model")
    if crd.get("type") == "string" and crd.get("format") != model.get("format"):
        differences.append(f"{path}: format {crd.get('format')!r} vs {model.get('format')!r}")
    if _crd_default(crd) != model.get("default"):
        differences.append(
            f"{path}: default {_crd_default(crd)!r} in the CRD, {model.get('default')!r} in the model"
        )
    if set(crd.get("required", [])) != set(model.get("required", [])):
        differences.append(
            f"{path}: required {crd.get('required')} in the CRD, {model.get('required')} in the model"
        )
    if "properties" in crd or "properties" in model:
        if model.get("additionalProperties") is not False:
            differences.append(f"{path}: the CRD prunes unknown fields, so the model must forbid them")
        crd_fields, model_fields = crd.get("properties", {}), model.get("properties", {})
        if set(crd_fields) != set(model_fields):
            differences.append(
                f"{path}: fields {sorted(crd_fields)} in the CRD, {sorted(model_fields)} in the model"
            )
        for name in set(crd_fields) & set(model_fields):
            differences += schema_differences(crd_fields[name], model_fields[name], defs, f"{path}.{name}")
    if "items" in crd or "items" in model:
        differences += schema_differences(crd.get("items", {}), model.get("items", {}), defs, f"{path}[]")
    if isinstance(crd.get("additionalProperties"), dict) or isinstance(
        model.get("additionalProperties"), dict
    ):
        differences += schema_differences(
            crd.get("additionalProperties", {}), model.get("additionalProperties", {}), defs, f"{path}{{}}"
        )
        key_limit = model.get("propertyNames", {}).get("maxLength")
        rules = [rule["rule"] for rule in crd.get("x-kubernetes-validations", [])]
        if key_limit is not None and f"self.all(k, size(k) <= {key_limit})" not in rules:
            differences.append(f"{path}: the model limits keys to {key_limit} characters, the CRD does not")
    return differences


@pytest.mark.parametrize("kind", CRDS)
def test_models_agree_with_crds(kind: str) -> None:
    model: type[BaseModel] = CRDS[kind][1]
    generated = model.model_json_schema(by_alias=True, schema_generator=_WithFactoryDefaults)
    defs = generated.get("$defs", {})
    schema = crd_schema(kind)
    assert set(generated["properties"]) == set(schema["properties"])
    differences = []
    for part in ("spec", "status"):
        differences += schema_differences(
            schema["properties"][part], generated["properties"][part], defs, f".{part}"
        )
    assert differences == []


# --- Examples: valid ones pass both, invalid ones fail both ---------------------------------------------


def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy" / "examples" / name).read_text())


def _operations() -> list[dict[str, Any]]:
    return [
        {"op": "test", "path": "/spec/template/spec/containers/0/resources/requests/memory", "value": "64Gi"},
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/resources/requests/memory",
            "value": "256Mi",
        },
    ]


def report_example() -> dict[str, Any]:
    """A finished investigation of the seed's Pending pod, as the operator would write it."""
    operations = _operations()
    rollback = [
        {"op": "test", "path": operations[1]["path"], "value": "256Mi"},
        {"op": "replace", "path": operations[1]["path"], "value": "64Gi"},
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "DiagnosticReport",
        "metadata": {"name": "critical-app-pending-5d8f", "namespace": "default"},
        "spec": {
            "podRef": {"name": "critical-app-7c9d-x2x4b", "uid": "8d6a1c1e-0d5e-4c49-9a43-6f1e2b7d9c01"},
            "workloadRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "critical-app",
                "uid": "1f0c",
            },
            "trigger": "Pending",
            "policyRef": {"name": "protect-critical-services"},
            "approval": {
                "decision": "Approved",
                "action": "Apply",
                "patchSHA256": patch_sha256_of(operations),
            },
        },
        "status": {
            "observedGeneration": 2,
            "phase": "AwaitingApproval",
            "conditions": [
                {
                    "type": "Analyzed",
                    "status": "True",
                    "lastTransitionTime": "2026-11-29T19:00:05Z",
                    "reason": "PatchSuggested",
                    "message": "A patch passed the policy and a server-side dry run.",
                }
            ],
            "findings": {
                "summary": "The pod requests 64Gi of memory; no node has more than 16Gi allocatable.",
                "rootCause": "InsufficientResources",
                "confidence": "High",
                "evidence": [{"step": 0, "quote": "0/3 nodes are available: 3 Insufficient memory."}],
            },
            "reasoningChain": [
                {
                    "index": 0,
                    "observation": "Pending; FailedScheduling: 0/3 nodes are available: 3 Insufficient memory.",
                },
                {
                    "index": 1,
                    "observation": "Scheduling failed for memory.",
                    "thought": "Compare the request with node allocatable.",
                    "action": {"tool": "get_resource_usage", "arguments": {"node": "node-1"}},
                    "result": "allocatable memory 16Gi, requested 2Gi",
                },
            ],
            "suggestedPatch": {
                "target": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "namespace": "default",
                    "name": "critical-app",
                },
                "operations": operations,
                "sha256": patch_sha256_of(operations),
                "dryRun": {"passed": True},
            },
            "rollbackPatch": {"operations": rollback, "sha256": patch_sha256_of(rollback)},
            "model": {"name": "gemma-3-270m-q4_k_m", "sha256": "ab" * 32},
            "timings": {"startedAt": "2026-11-29T19:00:00Z", "queuedMs": 12, "analysisMs": 4210},
        },
    }


def patch_sha256_of(operations: list[dict[str, Any]]) -> str:
    """The digest of `operations` on the valid report's target."""
    target = PatchTarget(api_version="apps/v1", kind="Deployment", namespace="default", name="critical-app")
    return patch_sha256([PatchOperation.model_validate(operation) for operation in operations], target)


VALID = {
    "seed policy": ("DebugPolicy", lambda: example("debugpolicy-seed.yaml")),
    "production policy": ("DebugPolicy", lambda: example("debugpolicy-production.yaml")),
    "report": ("DiagnosticReport", report_example),
}


@pytest.mark.parametrize("name", VALID)
def test_valid_examples_pass_both(name: str) -> None:
    kind, build = VALID[name]
    document = build()
    assert server_errors(kind, document) == []
    CRDS[kind][1].model_validate(document)


@pytest.mark.parametrize("name", ["debugpolicy-seed.yaml", "debugpolicy-production.yaml"])
def test_server_defaults_equal_model_defaults(name: str) -> None:
    """What `kubectl get -o yaml` shows after defaulting is what the operator's model sees."""
    document = example(name)
    defaulted = apply_crd_defaults(crd_schema("DebugPolicy"), copy.deepcopy(document))
    parsed = DebugPolicy.model_validate(document).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert parsed["spec"] == defaulted["spec"]


def test_seed_policy_gets_the_documented_defaults() -> None:
    spec = DebugPolicy.model_validate(example("debugpolicy-seed.yaml")).spec
    assert spec.triggers == ["CrashLoopBackOff", "Pending"]
    assert spec.max_steps == 6
    assert spec.model == tomllib.loads((ROOT / "models.lock").read_text())["default"]
    assert spec.remediation.allowed_target_kinds == ["Deployment", "StatefulSet", "DaemonSet"]
    assert "/spec/template/spec/containers/*/image" in spec.remediation.allowed_paths


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()
_SELECTOR = "spec.rules.0.selector"
INVALID = {
    "unknown trigger": ("DebugPolicy", _set("spec.triggers", ["Crashing"])),
    "no rules": ("DebugPolicy", _set("spec.rules", [])),
    "rule without namespaces": ("DebugPolicy", _set("spec.rules.0.namespaces", _DELETE)),
    "bad namespace name": ("DebugPolicy", _set("spec.rules.0.namespaces", ["Default"])),
    "maxSteps above bound": ("DebugPolicy", _set("spec.maxSteps", 15)),
    "duration without unit": ("DebugPolicy", _set("spec.pendingGracePeriod", "120")),
    "In without values": (
        "DebugPolicy",
        _set(f"{_SELECTOR}.matchExpressions", [{"key": "app", "operator": "In"}]),
    ),
    "Exists with values": (
        "DebugPolicy",
        _set(f"{_SELECTOR}.matchExpressions", [{"key": "app", "operator": "Exists", "values": ["x"]}]),
    ),
    "label key too long": ("DebugPolicy", _set(f"{_SELECTOR}.matchLabels", {"k" * 318: "v"})),
    "securityContext path": (
        "DebugPolicy",
        _set("spec.remediation", {"allowedPaths": ["/spec/template/spec/containers/*/securityContext"]}),
    ),
    "unknown target kind": ("DebugPolicy", _set("spec.remediation", {"allowedTargetKinds": ["ClusterRole"]})),
    "wrong trigger enum": ("DiagnosticReport", _set("spec.trigger", "Crashed")),
    "missing podRef": ("DiagnosticReport", _set("spec.podRef", _DELETE)),
    "summary too long": ("DiagnosticReport", _set("status.findings.summary", "x" * 401)),
    "unknown root cause": ("DiagnosticReport", _set("status.findings.rootCause", "Gremlins")),
    "numeric confidence": ("DiagnosticReport", _set("status.findings.confidence", 0.9)),
    "short sha256": ("DiagnosticReport", _set("spec.approval.patchSHA256", "a" * 63)),
    "uppercase sha256": ("DiagnosticReport", _set("spec.approval.patchSHA256", "A" * 64)),
    "approval without sha256": ("DiagnosticReport", _set("spec.approval", {"decision": "Approved"})),
    "unknown phase": ("DiagnosticReport", _set("status.phase", "Done")),
    "bad patch op": ("DiagnosticReport", _set("status.suggestedPatch.operations.1.op", "merge")),
    "move without from": (
        "DiagnosticReport",
        _set("status.suggestedPatch.operations", [{"op": "move", "path": "/a"}]),
    ),
    "add without value": (
        "DiagnosticReport",
        _set("status.suggestedPatch.operations", [{"op": "add", "path": "/a"}]),
    ),
    "path not a JSON pointer": (
        "DiagnosticReport",
        _set("status.suggestedPatch.operations.1.path", "spec/x"),
    ),
    "evidence past the chain": (
        "DiagnosticReport",
        _set("status.findings.evidence", [{"step": 16, "quote": "x"}]),
    ),
    "too many tool arguments": (
        "DiagnosticReport",
        _set("status.reasoningChain.1.action.arguments", {f"a{i}": "v" for i in range(5)}),
    ),
    "patch and no-patch reason": ("DiagnosticReport", _set("status.noPatchReason", "none")),
    "duplicate namespace": ("DebugPolicy", _set("spec.rules.0.namespaces", ["default", "default"])),
    "duplicate condition type": (
        "DiagnosticReport",
        lambda document: document["status"]["conditions"].append(dict(document["status"]["conditions"][0])),
    ),
    "bad condition status": ("DiagnosticReport", _set("status.conditions.0.status", "Yes")),
}


@pytest.mark.parametrize("name", INVALID)
def test_invalid_examples_fail_both(name: str) -> None:
    kind, mutate = INVALID[name]
    document = report_example() if kind == "DiagnosticReport" else example("debugpolicy-seed.yaml")
    mutate(document)
    assert server_errors(kind, document), "the API server would accept it"
    with pytest.raises(ValidationError):
        CRDS[kind][1].model_validate(document)


def test_model_rejects_an_oversized_patch_value() -> None:
    """The one bound the API server cannot express (free-form JSON) is enforced by the model."""
    document = report_example()
    document["status"]["suggestedPatch"]["operations"][1]["value"] = {"env": "x" * MAX_PATCH_VALUE_CHARS}
    with pytest.raises(ValidationError, match="at most 1024 characters"):
        DiagnosticReport.model_validate(document)


def test_patch_sha256_ignores_key_order_but_not_content() -> None:
    operations = _operations()
    reordered = [dict(reversed(list(operation.items()))) for operation in operations]
    assert patch_sha256_of(reordered) == patch_sha256_of(operations)
    operations[1]["value"] = "512Mi"
    assert patch_sha256_of(operations) != patch_sha256_of(reordered)


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == timedelta(hours=1, minutes=30)
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    with pytest.raises(ValueError, match="90s, 2m or 1h30m"):
        parse_duration("2 minutes")


# --- Size: a full report stays far below the API server's object size limit ------------------------------


def _filler(length: int, pattern: str | None, counter: int) -> str:
    """A string of exactly `length` characters matching `pattern`, distinct per `counter` where it can be."""
    tag = "".join(chr(ord("a") + int(digit)) for digit in str(counter)) + "z"
    for candidate in (
        tag + "a" * (length - len(tag)),
        tag + "a" * (length - len(tag) - 3) + "/v1",
        "A" + tag + "a" * (length - len(tag) - 1),
        "/" + tag + "a" * (length - len(tag) - 1),
        "a" * length,
    ):
        if pattern is None or re.search(pattern, candidate):
            return candidate
    raise AssertionError(f"no filler of length {length} matches {pattern}")


def worst_case(node: dict[str, Any], counter: list[int]) -> Any:
    """The largest value `node` accepts: every list full, every string at its maxLength."""
    counter[0] += 1
    if node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
        return "v" * (MAX_PATCH_VALUE_CHARS - 2)  # the model's bound on a patch value's JSON
    match node["type"]:
        case "object" if "properties" in node:
            return {name: worst_case(child, counter) for name, child in node["properties"].items()}
        case "object":
            (key_limit,) = (
                int(m)
                for r in node["x-kubernetes-validations"]
                for m in re.findall(r"size\(k\) <= (\d+)", r["rule"])
            )
            return {
                _filler(key_limit, None, counter[0] + i): worst_case(node["additionalProperties"], counter)
                for i in range(node["maxProperties"])
            }
        case "array":
            return [worst_case(node["items"], counter) for _ in range(node["maxItems"])]
        case "string" if "enum" in node:
            return max(node["enum"], key=len)
        case "string" if node.get("format") == "date-time":
            return "2026-11-29T19:28:00Z"
        case "string":
            return _filler(node.get("maxLength", 64), node.get("pattern"), counter[0])
        case "integer":
            return node.get("maximum", 2**53)
        case "number":
            return 1.2345678901234567e300 if "minimum" in node else -1.2345678901234567e-300  # longest
        case "boolean":
            return False
    raise AssertionError(f"unexpected node {node}")


def test_worst_case_report_fits() -> None:
    schema = crd_schema("DiagnosticReport")
    counter = [0]
    document = {
        "apiVersion": API_VERSION,
        "kind": "DiagnosticReport",
        "metadata": {"name": "worst-case", "namespace": "default"},
        "spec": worst_case(schema["properties"]["spec"], counter),
        "status": worst_case(schema["properties"]["status"], counter),
    }
    # Fields that exclude each other keep the larger one: a patch (not the no-patch reason), and
    # replace operations (value) rather than move/copy (from).
    del document["status"]["noPatchReason"]
    for patch in (document["status"]["suggestedPatch"], document["status"]["rollbackPatch"]):
        for operation in patch["operations"]:
            del operation["from"]
    assert server_errors("DiagnosticReport", document) == []
    DiagnosticReport.model_validate(document)

    encoded = json.dumps(document, separators=(",", ":")).encode()
    characters = sum(len(s) for s in _strings(document))
    # Go's encoder may write a character as a 6-byte \u00XX escape; bound that too.
    pessimistic = len(encoded) + 5 * characters
    assert characters < 170_000, characters
    assert pessimistic < MiB, pessimistic


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
