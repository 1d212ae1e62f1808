"""ValidatingAdmissionPolicy and its bindings (admissionregistration.k8s.io/v1), checked and enforced.

Two callers: validation.py validates the policy and binding objects when they are written (required
fields, supported values, CEL that compiles), and the store calls `check` on every create and update
(patches included) that comes through the HTTP API, after defaulting and schema validation, with
the object, the old object and the requester (`PolicyRequest`). The store's own in-process writers
(the simulation's controllers, the scenario loader, the garbage collector) make no API requests
and are not judged.

A binding applies its policy when both their match rules select the request (resourceRules and
excludeResourceRules, namespaceSelector, objectSelector, then the policy's matchConditions); each
validation is a CEL expression over ``object``, ``oldObject``, ``request`` (with ``userInfo``),
``params`` (always null: paramKind is not served), ``namespaceObject`` and ``variables``, evaluated
with cel-python as crds.py evaluates CRD rules. A binding with the Deny action turns the first
failure into the API server's error: ``<resource> "<name>" is forbidden: ValidatingAdmissionPolicy
'<p>' with binding '<b>' denied request: <message>``, with the validation's reason (default Invalid,
so HTTP 422). An expression that fails to evaluate denies under failurePolicy Fail (the default) and
is skipped under Ignore. Warn and Audit actions are accepted and have no effect.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes

from .authn import UserInfo
from .errors import ApiError, duplicate, invalid_value, qualified, required, unsupported
from .resources import ResourceType
from .selectors import selector_from_label_selector

logger = logging.getLogger(__name__)

GROUP = "admissionregistration.k8s.io"
POLICIES = (GROUP, "validatingadmissionpolicies")
BINDINGS = (GROUP, "validatingadmissionpolicybindings")
_FAILURE_POLICIES = ["Fail", "Ignore"]
_ACTIONS = ["Audit", "Deny", "Warn"]
_OPERATIONS = ["*", "CREATE", "UPDATE", "DELETE", "CONNECT"]
_REASONS = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}


@dataclass(frozen=True)
class PolicyRequest:
    """One write as admission sees it: CREATE (``old`` None) or UPDATE of ``obj``, by ``user``."""

    rt: ResourceType
    obj: dict
    old: dict | None
    user: UserInfo
    subresource: str = ""
    dry_run: bool = False
    namespace: dict | None = None  # the object's Namespace, for namespaceSelector and namespaceObject

    @property
    def operation(self) -> str:
        return "CREATE" if self.old is None else "UPDATE"


class _EvaluationError(Exception):
    """An expression could not be evaluated: the message is the API server's."""


class _Denied(Exception):
    """A validation failed (or could not be evaluated under failurePolicy Fail)."""

    def __init__(self, message: str, reason: str = "Invalid") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


# -- writing policies and bindings ---------------------------------------------------------------


def validate_definition(rt: ResourceType, obj: dict) -> list[dict]:
    """Field causes for a 422 on a ValidatingAdmissionPolicy or binding, worded as the API server's."""
    spec = obj.get("spec") or {}
    if rt.kind == "ValidatingAdmissionPolicyBinding":
        return _validate_binding(spec)
    if rt.kind != "ValidatingAdmissionPolicy":
        return []
    causes: list[dict] = []
    failure = spec.get("failurePolicy")
    if failure is not None and failure not in _FAILURE_POLICIES:
        causes.append(unsupported("spec.failurePolicy", failure, _FAILURE_POLICIES))
    constraints = spec.get("matchConstraints")
    if not constraints:
        causes.append(required("spec.matchConstraints"))
    else:
        if not constraints.get("resourceRules"):
            causes.append(required("spec.matchConstraints.resourceRules"))
        causes += _validate_rules(constraints, "spec.matchConstraints")
    if not spec.get("validations") and not spec.get("auditAnnotations"):
        causes.append(
            required("spec.validations", "validations or auditAnnotations must contain at least one item")
        )
    for i, validation in enumerate(spec.get("validations") or []):
        where = f"spec.validations[{i}]"
        causes += _compiles(f"{where}.expression", validation.get("expression"))
        if validation.get("messageExpression"):
            causes += _compiles(f"{where}.messageExpression", validation["messageExpression"])
        reason = validation.get("reason")
        if reason is not None and reason not in _REASONS:
            causes.append(unsupported(f"{where}.reason", reason, sorted(_REASONS)))
    for field in ("matchConditions", "variables"):
        for i, entry in enumerate(spec.get(field) or []):
            if not entry.get("name"):
                causes.append(required(f"spec.{field}[{i}].name"))
            causes += _compiles(f"spec.{field}[{i}].expression", entry.get("expression"))
    return causes


def _validate_binding(spec: dict) -> list[dict]:
    causes: list[dict] = []
    if not spec.get("policyName"):
        causes.append(required("spec.policyName"))
    actions = spec.get("validationActions") or []
    if not actions:
        causes.append(required("spec.validationActions", "at least one validation action is required"))
    for i, action in enumerate(actions):
        if action not in _ACTIONS:
            causes.append(unsupported(f"spec.validationActions[{i}]", action, _ACTIONS))
        elif action in actions[:i]:
            causes.append(duplicate(f"spec.validationActions[{i}]", action))
    if "Deny" in actions and "Warn" in actions:
        causes.append(
            invalid_value(
                "spec.validationActions",
                actions,
                "must not contain both Deny and Warn (repeating the same validation failure information in "
                "the API response and headers serves no purpose)",
            )
        )
    if spec.get("matchResources"):
        causes += _validate_rules(spec["matchResources"], "spec.matchResources")
    return causes


def _validate_rules(match: dict, path: str) -> list[dict]:
    causes = []
    for field in ("resourceRules", "excludeResourceRules"):
        for i, rule in enumerate(match.get(field) or []):
            for j, operation in enumerate(rule.get("operations") or []):
                if operation not in _OPERATIONS:
                    causes.append(unsupported(f"{path}.{field}[{i}].operations[{j}]", operation, _OPERATIONS))
    return causes


def _compiles(path: str, expression: Any) -> list[dict]:
    if not isinstance(expression, str) or not expression.strip():
        return [required(path)]
    try:
        _program(expression)
    except celpy.CELParseError as error:
        line, column = getattr(error, "line", 1), getattr(error, "column", 1)
        pointer = "." * max(column - 1, 0) + "^"
        detail = (
            f"compilation failed: ERROR: <input>:{line}:{column}: Syntax error\n | {expression}\n | {pointer}"
        )
        return [invalid_value(path, expression, detail)]
    return []


@lru_cache(maxsize=512)
def _program(expression: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(expression))


# -- enforcing them ------------------------------------------------------------------------------


def check(request: PolicyRequest, policies: Mapping[tuple[str, str], dict], bindings: Iterable[dict]) -> None:
    """Raise the API server's denial when a Deny binding's policy rejects ``request``.

    ``policies`` and ``bindings`` are the stored objects (policies keyed by ("", name)); bindings are
    applied in name order, and the first denial is the one reported.
    """
    for binding in sorted(bindings, key=lambda b: b["metadata"]["name"]):
        spec = binding.get("spec") or {}
        policy = policies.get(("", spec.get("policyName", "")))
        if policy is None or "Deny" not in (spec.get("validationActions") or []):
            continue
        if not _matches(policy["spec"].get("matchConstraints") or {}, request):
            continue
        if spec.get("matchResources") and not _matches(spec["matchResources"], request):
            continue
        try:
            _validate(policy["spec"], request)
        except _Denied as denial:
            raise _denied(request, policy["metadata"]["name"], binding["metadata"]["name"], denial) from None


def _denied(request: PolicyRequest, policy: str, binding: str, denial: _Denied) -> ApiError:
    """admission.NewForbidden's message, with the validation's reason and its code."""
    message = (
        f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {denial.message}"
    )
    rt, name = request.rt, request.obj["metadata"].get("name", "")
    details: dict[str, Any] = {"name": name, "kind": rt.plural, "causes": [{"message": message}]}
    if rt.group:
        details["group"] = rt.group
    return ApiError(
        _REASONS.get(denial.reason, 422),
        denial.reason,
        f'{qualified(rt)} "{name}" is forbidden: {message}',
        details=details,
    )


def _matches(match: dict, request: PolicyRequest) -> bool:
    """matchConstraints / matchResources: the rules select the request and the selectors its labels.

    A binding's matchResources without resourceRules narrows nothing (a policy's must have some).
    """
    rules = match.get("resourceRules") or []
    if rules and not any(_rule_matches(rule, request) for rule in rules):
        return False
    if any(_rule_matches(rule, request) for rule in match.get("excludeResourceRules") or []):
        return False
    objects = [o for o in (request.obj, request.old) if o is not None]
    object_selector = selector_from_label_selector(match.get("objectSelector") or {})
    if not any(object_selector.matches(o) for o in objects):
        return False
    namespace_selector = selector_from_label_selector(match.get("namespaceSelector") or {})
    if request.rt.kind == "Namespace" and not request.rt.group:
        return namespace_selector.matches(request.obj)
    return request.namespace is None or namespace_selector.matches(request.namespace)


def _rule_matches(rule: dict, request: PolicyRequest) -> bool:
    """A NamedRuleWithOperations: ``*`` is every resource but no subresource, ``*/*`` both."""
    rt = request.rt
    operations = rule.get("operations") or []
    if "*" not in operations and request.operation not in operations:
        return False
    for field, value in (("apiGroups", rt.group), ("apiVersions", rt.version)):
        listed = rule.get(field) or []
        if "*" not in listed and value not in listed:
            return False
    scope = rule.get("scope") or "*"
    if scope != "*" and scope != ("Namespaced" if rt.namespaced else "Cluster"):
        return False
    wanted = f"{rt.plural}/{request.subresource}" if request.subresource else rt.plural
    resource_ok = any(
        r in (wanted, "*/*")
        or (r == "*" and not request.subresource)
        or (request.subresource and r in (f"{rt.plural}/*", f"*/{request.subresource}"))
        for r in rule.get("resources") or []
    )
    names = rule.get("resourceNames") or []
    return resource_ok and (not names or request.obj["metadata"].get("name") in names)


def _activation(request: PolicyRequest) -> dict[str, Any]:
    """The CEL variables of a request (``variables`` is added as they are evaluated)."""
    rt, meta = request.rt, request.obj["metadata"]
    kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    resource = {"group": rt.group, "version": rt.version, "resource": rt.plural}
    user = request.user
    admission_request = {
        "uid": str(uuid.uuid4()),
        "kind": kind,
        "resource": resource,
        "subResource": request.subresource,
        "requestKind": kind,
        "requestResource": resource,
        "requestSubResource": request.subresource,
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", "") if rt.namespaced else "",
        "operation": request.operation,
        "userInfo": {
            "username": user.username,
            "uid": user.uid,
            "groups": list(user.groups),
            "extra": {key: list(values) for key, values in user.extra.items()},
        },
        "dryRun": request.dry_run,
        "options": {
            "kind": "CreateOptions" if request.old is None else "UpdateOptions",
            "apiVersion": "meta.k8s.io/v1",
        },
    }
    return {
        "object": celpy.json_to_cel(request.obj),
        "oldObject": celpy.json_to_cel(request.old),
        "request": celpy.json_to_cel(admission_request),
        "params": celpy.json_to_cel(None),
        "namespaceObject": celpy.json_to_cel(request.namespace),
    }


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    """The value of one expression; a failure is the API server's ``expression '...' resulted in error``."""
    try:
        result = _program(expression).evaluate(activation)
    except celpy.CELEvalError as error:
        result = error
    if isinstance(result, celpy.CELEvalError):
        detail = result.args[0] if result.args else result
        raise _EvaluationError(f"expression '{expression}' resulted in error: {detail}")
    return result


def _validate(spec: dict, request: PolicyRequest) -> None:
    """Variables, matchConditions, then each validation; raises `_Denied` on the first failure."""
    fail = (spec.get("failurePolicy") or "Fail") == "Fail"
    activation = _activation(request)
    try:
        variables = celtypes.MapType()
        activation["variables"] = variables  # each variable sees the ones declared before it
        for variable in spec.get("variables") or []:
            variables[celtypes.StringType(variable["name"])] = _evaluate(variable["expression"], activation)
        for condition in spec.get("matchConditions") or []:
            if not bool(_evaluate(condition["expression"], activation)):
                return
    except _EvaluationError as error:
        if fail:
            raise _Denied(str(error)) from None
        return
    for validation in spec.get("validations") or []:
        try:
            passed = bool(_evaluate(validation["expression"], activation))
        except _EvaluationError as error:
            if fail:
                raise _Denied(str(error)) from None
            logger.info("admission policy expression failed, ignored: %s", error)
            continue
        if not passed:
            raise _Denied(_message(validation, activation), validation.get("reason") or "Invalid")


def _message(validation: dict, activation: dict[str, Any]) -> str:
    """messageExpression when it yields a one-line string, else message, else ``failed expression: ...``."""
    if validation.get("messageExpression"):
        try:
            text = _evaluate(validation["messageExpression"], activation)
        except _EvaluationError as error:
            logger.info("admission policy messageExpression failed: %s", error)
        else:
            if isinstance(text, str) and text.strip() and "\n" not in text:
                return str(text)
    return validation.get("message") or f"failed expression: {validation['expression']}"
