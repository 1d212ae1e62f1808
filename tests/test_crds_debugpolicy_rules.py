"""A DebugPolicy the API server refuses, the operator refuses too, and for the same reason: allowedPaths
deep enough, durations in Go's canonical form and within their bounds, reportRetention at least the
cooldown. The sandbox's admission (defaults, then the OpenAPI schema and the CRD's CEL rules with
cel-python) stands in for the API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from smart_sre.api.debugpolicy import (
    DEFAULT_ALLOWED_PATHS,
    SPEC_FIELD_RULE,
    TEMPLATE_FIELD_RULE,
    TEMPLATE_RULE,
    WHOLE_CONTAINER_RULE,
    DebugPolicySpec,
)
from smart_sre_sandbox.crds import CustomResources
from smart_sre_sandbox.errors import ApiError

CRD = yaml.safe_load((Path(__file__).resolve().parents[1] / "crds" / "debugpolicy.yaml").read_text())
RULES = [{"namespaces": ["default"]}]


def server_errors(spec: dict[str, Any]) -> list[str]:
    resources = CustomResources()
    (served,) = resources.register(CRD)
    document = {"apiVersion": "smartsre.io/v1alpha1", "kind": "DebugPolicy", "metadata": {"name": "p"}}
    try:
        resources.admit(served, {**document, "spec": spec}, None)
    except ApiError as error:
        return [cause["message"] for cause in error.causes]
    return []


def model_errors(spec: dict[str, Any]) -> list[str]:
    try:
        DebugPolicySpec.model_validate(spec)
    except ValidationError as error:
        return [issue["msg"] for issue in error.errors()]
    return []


TOO_SHALLOW = [
    "/*",
    "/spec",
    "/spec/template",
    "/spec/template/spec",
    "/spec/template/spec/*",
    "/spec/template/spec/containers",
    "/spec/template/spec/containers/*",
    "/spec/template/spec/initContainers/0",
    "/spec/containers/*",
    "/spec/*/spec/nodeSelector",
    "/spec/template/metadata/labels",
    "/*/template/spec/containers/*/image",
    "/metadata/labels",
]
DEEP_ENOUGH = [
    *DEFAULT_ALLOWED_PATHS,
    "/spec/template/spec/initContainers/*/image",
    "/spec/template/spec/containers/*/env/*/value",
    "/spec/containers/*/image",
    "/spec/nodeSelector",
]


@pytest.mark.parametrize("pattern", TOO_SHALLOW)
def test_patterns_shallower_than_a_field_are_refused_by_both(pattern: str) -> None:
    spec = {"rules": RULES, "remediation": {"allowedPaths": [pattern]}}
    assert any("opens too much" in message for message in server_errors(spec))
    assert any("opens too much" in message and pattern in message for message in model_errors(spec))


@pytest.mark.parametrize("pattern", DEEP_ENOUGH)
def test_patterns_naming_a_field_pass_both(pattern: str) -> None:
    spec = {"rules": RULES, "remediation": {"allowedPaths": [pattern]}}
    assert server_errors(spec) == []
    assert model_errors(spec) == []


def test_the_crd_rule_is_the_models_rule() -> None:
    """One rule in both places: the CEL rule on allowedPaths[] embeds the model's expressions verbatim."""
    remediation = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "remediation"
    ]
    (rule,) = remediation["properties"]["allowedPaths"]["items"]["x-kubernetes-validations"]
    for expression in (SPEC_FIELD_RULE, TEMPLATE_RULE, TEMPLATE_FIELD_RULE, WHOLE_CONTAINER_RULE):
        assert f"'{expression}'" in rule["rule"]


# (spec fields, the range the error names, or None when both accept it)
DURATIONS: list[tuple[dict[str, str], str | None]] = [
    ({"pendingGracePeriod": "0s"}, None),
    ({"pendingGracePeriod": "1h30m"}, None),
    ({"pendingGracePeriod": "24h"}, None),
    ({"pendingGracePeriod": "24h0m1s"}, "from 0s to 24h"),
    ({"cooldown": "1m"}, None),
    ({"cooldown": "60s"}, None),
    ({"cooldown": "59s"}, "from 1m to 720h"),
    ({"cooldown": "30s"}, "from 1m to 720h"),
    ({"cooldown": "721h", "reportRetention": "8760h"}, "from 1m to 720h"),
    ({"cooldown": "720h", "reportRetention": "720h"}, None),
    ({"reportRetention": "8760h"}, None),
    ({"reportRetention": "8761h"}, "from 0s to 8760h"),
    ({"cooldown": "2h", "reportRetention": "1h"}, "shorter than cooldown"),
    ({"reportRetention": "5m"}, "shorter than cooldown"),  # against the default cooldown, 10m
    ({"cooldown": "720h"}, "shorter than cooldown"),  # against the default retention, 168h
]


@pytest.mark.parametrize(("fields", "refusal"), DURATIONS, ids=lambda value: str(value))
def test_durations_are_bounded_the_same_way_by_both(fields: dict[str, str], refusal: str | None) -> None:
    spec = {"rules": RULES, **fields}
    if refusal is None:
        assert server_errors(spec) == []
        assert model_errors(spec) == []
    else:
        assert any(refusal in message for message in server_errors(spec))
        assert any(refusal in message for message in model_errors(spec))


@pytest.mark.parametrize("value", ["120", "30m1h", "1h1h", "9999999h", "99999999999999999999h", "2 minutes"])
def test_durations_out_of_canonical_form_or_too_long_to_parse_are_refused_by_both(value: str) -> None:
    """A number Go's duration cannot hold is refused by its form, before anything tries to parse it."""
    spec = {"rules": RULES, "cooldown": value}
    assert server_errors(spec)
    assert model_errors(spec)
