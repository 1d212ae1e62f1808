"""CustomResourceDefinitions: serving their resources and admitting objects against structural schemas.

Admission follows the real apiextensions-apiserver order: prune unknown fields, apply defaults, then
validate (OpenAPI v3 keywords, then ``x-kubernetes-validations`` CEL rules evaluated with cel-python).
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import celpy

from .errors import (
    duplicate,
    invalid,
    invalid_value,
    required,
    too_long,
    too_many,
    type_invalid,
    unsupported,
)
from .resources import ResourceType

logger = logging.getLogger(__name__)

_ROOT_FIELDS = ("apiVersion", "kind", "metadata")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class CustomVersion:
    """One served version of a CRD."""

    rt: ResourceType
    crd_name: str
    schema: dict = field(hash=False, compare=False)
    columns: tuple[dict, ...] = field(default=(), hash=False, compare=False)
    storage: bool = field(default=False, hash=False, compare=False)


class CustomResources:
    """The served custom resource versions, by ResourceType."""

    def __init__(self) -> None:
        self._versions: dict[ResourceType, CustomVersion] = {}

    def register(self, crd: dict) -> list[ResourceType]:
        spec, name = crd["spec"], crd["metadata"]["name"]
        names = spec["names"]
        subresource_names = {"status": "status", "scale": "scale"}
        served = []
        for version in sorted(spec["versions"], key=lambda v: not v.get("storage")):
            if not version.get("served", True):
                continue
            subresources = tuple(
                subresource_names[s] for s in (version.get("subresources") or {}) if s in subresource_names
            )
            rt = ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subresources,
            )
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}
            columns = tuple(version.get("additionalPrinterColumns") or ())
            self._versions[rt] = CustomVersion(rt, name, schema, columns, bool(version.get("storage")))
            served.append(rt)
        return served

    def unregister(self, crd: dict) -> list[ResourceType]:
        name = crd["metadata"]["name"]
        retired = [rt for rt, v in self._versions.items() if v.crd_name == name]
        for rt in retired:
            del self._versions[rt]
        return retired

    def schema_for(self, rt: ResourceType) -> dict | None:
        version = self._versions.get(rt)
        return version.schema if version else None

    def version(self, rt: ResourceType) -> CustomVersion | None:
        return self._versions.get(rt)

    def versions(self) -> list[CustomVersion]:
        return list(self._versions.values())

    def unknown_fields(self, rt: ResourceType, obj: dict) -> list[str]:
        """Fields the schema does not declare: what ``fieldValidation=Strict`` rejects."""
        schema = self._versions[rt].schema
        found: list[str] = []
        _unknown(schema, {k: v for k, v in obj.items() if k not in _ROOT_FIELDS}, "", found)
        return found

    def admit(self, rt: ResourceType, obj: dict, old: dict | None) -> dict:
        """Prune, default and validate a custom object; raise 422 Invalid with field causes."""
        schema = self._versions[rt].schema
        body = apply_defaults(schema, prune(schema, {k: v for k, v in obj.items() if k not in _ROOT_FIELDS}))
        causes = validate_value(schema, body, "", root=True)
        if any(c["reason"] == "FieldValueTypeInvalid" for c in causes):
            # As the API server does, type errors keep CEL rules from running at all.
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": 'Invalid value: "null": some validation rules were not checked because the object '
                    "was invalid; correct the existing errors to complete validation",
                    "field": "<nil>",
                }
            )
        else:
            old_body = None if old is None else {k: v for k, v in old.items() if k not in _ROOT_FIELDS}
            causes += validate_rules(schema, body, old_body, "")
        if causes:
            raise invalid(rt, obj["metadata"].get("name", ""), causes)
        return {**{k: obj[k] for k in _ROOT_FIELDS if k in obj}, **body}


def established_status(crd: dict) -> dict:
    """The status apiextensions-apiserver reports once a CRD's names are accepted and it is served."""
    spec = crd.get("spec") or {}
    condition = {"status": "True", "lastTransitionTime": crd["metadata"].get("creationTimestamp")}
    return {
        "acceptedNames": spec.get("names") or {},
        "conditions": [
            {**condition, "type": "NamesAccepted", "reason": "NoConflicts", "message": "no conflicts found"},
            {
                **condition,
                "type": "Established",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
    }


def validate_definition(crd: dict) -> list[dict]:
    """The CRD checks users hit: names, scope, exactly one storage version, schemas present."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[dict] = []
    group, names = spec.get("group"), spec.get("names") or {}
    if not group:
        causes.append(required("spec.group"))
    for key in ("plural", "kind"):
        if not names.get(key):
            causes.append(required(f"spec.names.{key}"))
    if group and names.get("plural") and crd["metadata"].get("name") != f"{names['plural']}.{group}":
        causes.append(
            invalid_value(
                "metadata.name", crd["metadata"].get("name"), 'must be spec.names.plural+"."+spec.group'
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(unsupported("spec.scope", spec.get("scope"), ["Cluster", "Namespaced"]))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(required("spec.versions", "must have exactly one version marked as storage version"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            invalid_value("spec.versions", "array", "must have exactly one version marked as storage version")
        )
    for i, version in enumerate(versions):
        if not version.get("name"):
            causes.append(required(f"spec.versions[{i}].name"))
        if not (version.get("schema") or {}).get("openAPIV3Schema"):
            causes.append(required(f"spec.versions[{i}].schema.openAPIV3Schema", "schemas are required"))
    return causes


# -- structural schema operations --------------------------------------------------------------------


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _preserves(schema: dict) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def _value_schema(schema: dict, key: str) -> dict | None:
    """The schema of an object's member ``key``: a property, additionalProperties, or None (unknown)."""
    if key in (schema.get("properties") or {}):
        return schema["properties"][key]
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    if extra is True or (schema.get("x-kubernetes-embedded-resource") and key in _ROOT_FIELDS):
        return {}  # an embedded object's apiVersion, kind and metadata are always known
    return None


def prune(schema: dict, value: Any) -> Any:
    """Drop fields the schema does not specify, unless it preserves unknown fields."""
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        result = {}
        for key, member in value.items():
            sub = _value_schema(schema, key)
            if sub is not None:
                result[key] = prune(sub, member)
            elif _preserves(schema):
                result[key] = member
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(schema["items"], item) for item in value]
    return value


def _unknown(schema: dict, value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        for key, member in value.items():
            sub = _value_schema(schema, key)
            if sub is not None:
                _unknown(sub, member, _child_path(path, key), found)
            elif not _preserves(schema):
                found.append(_child_path(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _unknown(schema["items"], item, f"{path}[{i}]", found)


def apply_defaults(schema: dict, value: Any) -> Any:
    """Fill ``default``s of absent properties, recursively inside the values present."""
    if isinstance(value, dict):
        result = dict(value)
        for key, sub in (schema.get("properties") or {}).items():
            if key not in result and "default" in sub:
                result[key] = copy.deepcopy(sub["default"])
            if key in result:
                result[key] = apply_defaults(sub, result[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in result:
                if key not in (schema.get("properties") or {}):
                    result[key] = apply_defaults(extra, result[key])
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def _type_ok(expected: str, value: Any) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def validate_value(schema: dict, value: Any, path: str, *, root: bool = False) -> list[dict]:
    """OpenAPI v3 keyword validation with the API server's messages."""
    if value is None:
        if schema.get("nullable") or not schema.get("type"):
            return []
        return [type_invalid(path, "null", schema["type"])]
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))):
            return [invalid_value(path, value, f"{path} in body must be of type integer,string: {value!r}")]
    elif schema.get("type") and not _type_ok(schema["type"], value):
        return [type_invalid(path, value, schema["type"])]
    causes: list[dict] = []
    if "enum" in schema and value not in schema["enum"]:
        causes.append(unsupported(path, value, schema["enum"]))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(too_long(path, schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(
                invalid_value(
                    path, value, f"{path} in body should be at least {schema['minLength']} chars long"
                )
            )
        if "pattern" in schema and not re.search(schema["pattern"], value):
            causes.append(invalid_value(path, value, f"{path} in body should match '{schema['pattern']}'"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            causes.append(
                invalid_value(
                    path, value, f"{path} in body should be greater than or equal to {schema['minimum']}"
                )
            )
        if "maximum" in schema and value > schema["maximum"]:
            causes.append(
                invalid_value(
                    path, value, f"{path} in body should be less than or equal to {schema['maximum']}"
                )
            )
    if isinstance(value, str) and schema.get("format") == "date-time" and not _DATE_TIME.match(value):
        causes.append(
            invalid_value(path, value, f"{path} in body must be of type date-time: {json.dumps(value)}")
        )
    if isinstance(value, list):
        causes += _list_uniqueness(schema, value, path)
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(too_many(path, len(value), schema["maxItems"]))
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                invalid_value(path, value, f"{path} in body should have at least {schema['minItems']} items")
            )
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                causes += validate_value(schema["items"], item, f"{path}[{i}]")
    if isinstance(value, dict):
        for key in schema.get("required") or []:
            if key not in value:
                causes.append(required(_child_path(path, key)))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            causes.append(too_many(path, len(value), schema["maxProperties"]))
        for key, member in value.items():
            if root and key in _ROOT_FIELDS:
                continue
            sub = _value_schema(schema, key)
            if sub is not None:
                causes += validate_value(sub, member, _child_path(path, key))
    return causes


def _list_uniqueness(schema: dict, items: list, path: str) -> list[dict]:
    """``x-kubernetes-list-type`` set (unique items) and map (unique ``x-kubernetes-list-map-keys``)."""
    list_type = schema.get("x-kubernetes-list-type")
    if list_type not in ("set", "map"):
        return []
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: list[Any] = []
    causes = []
    for i, item in enumerate(items):
        identity = {k: item.get(k) for k in keys} if list_type == "map" and isinstance(item, dict) else item
        if identity in seen:
            causes.append(duplicate(f"{path}[{i}]", identity))
        seen.append(identity)
    return causes


@lru_cache(maxsize=512)
def _program(rule: str) -> celpy.Runner | None:
    env = celpy.Environment()
    try:
        return env.program(env.compile(rule))
    except Exception as exc:  # cel-python lacks some Kubernetes CEL libraries; skip such rules
        logger.warning("cel rule not supported by the sandbox, skipped: rule=%r error=%s", rule, exc)
        return None


def validate_rules(schema: dict, value: Any, old: Any, path: str) -> list[dict]:
    """Evaluate ``x-kubernetes-validations`` bottom-up; transition rules (oldSelf) only on updates."""
    causes: list[dict] = []
    if isinstance(value, dict):
        for key, member in value.items():
            sub = _value_schema(schema, key)
            if sub is not None:
                old_member = old.get(key) if isinstance(old, dict) else None
                causes += validate_rules(sub, member, old_member, _child_path(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            causes += validate_rules(schema["items"], item, None, f"{path}[{i}]")
    for rule in schema.get("x-kubernetes-validations") or []:
        causes += _check_rule(rule, schema.get("type", "object"), value, old, path)
    return causes


def _check_rule(rule: dict, schema_type: str, value: Any, old: Any, path: str) -> list[dict]:
    """One CEL rule; like the API server, a failure shows the schema type as the value."""
    expression = rule.get("rule", "")
    uses_old = "oldSelf" in expression
    if uses_old and old is None:
        return []
    program = _program(expression)
    if program is None:
        return []
    activation = {"self": celpy.json_to_cel(value)}
    if uses_old:
        activation["oldSelf"] = celpy.json_to_cel(old)
    try:
        result = program.evaluate(activation)
    except celpy.CELEvalError as exc:
        logger.warning(
            "cel rule failed to evaluate: rule=%r error=%s", expression, exc.args[0] if exc.args else exc
        )
        return [
            invalid_value(
                path or "<root>",
                schema_type,
                f"{exc.args[0] if exc.args else exc} evaluating rule: {expression}",
            )
        ]
    if isinstance(result, celpy.CELEvalError):
        return [
            invalid_value(path or "<root>", schema_type, f"{result.args[0]} evaluating rule: {expression}")
        ]
    if bool(result):
        return []
    message = rule.get("message") or f"failed rule: {expression}"
    field_path = _child_path(path, rule["fieldPath"].lstrip(".")) if rule.get("fieldPath") else path
    reason = rule.get("reason", "FieldValueInvalid")
    cause = invalid_value(field_path or "<root>", schema_type, message)
    cause["reason"] = reason
    return [cause]
