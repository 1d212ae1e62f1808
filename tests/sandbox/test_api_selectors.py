"""Label and field selectors as kubectl and controllers write them."""

import pytest

from smart_sre_sandbox.errors import ApiError
from smart_sre_sandbox.selectors import (
    parse_field_selector,
    parse_label_selector,
    selector_from_label_selector,
)

POD = {
    "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web", "tier": "front"}},
    "spec": {"nodeName": "node-a"},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (web, db)", True),
        ("app notin (web)", False),
        ("tier", True),
        ("!tier", False),
        ("!canary", True),
        ("app=web,tier in (front),!canary", True),
        ("app=web,tier=back", False),
        ("", True),
    ],
)
def test_label_selector(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(POD) is matches


def test_malformed_label_selector_is_a_bad_request() -> None:
    with pytest.raises(ApiError) as info:
        parse_label_selector("app in (web")
    assert info.value.code == 400


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("metadata.name=web-1", True),
        ("metadata.namespace==shop", True),
        ("status.phase!=Running", False),
        ("spec.nodeName=node-a,status.phase=Running", True),
        ("spec.nodeName=", False),
        ("spec.schedulerName=", True),
    ],
)
def test_field_selector(selector: str, matches: bool) -> None:
    assert parse_field_selector(selector).matches(POD) is matches


def test_involved_object_field_selector() -> None:
    event = {
        "metadata": {"name": "e"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "u1"},
        "type": "Warning",
    }
    assert parse_field_selector("involvedObject.kind=Pod,involvedObject.name=web-1,type=Warning").matches(
        event
    )
    assert not parse_field_selector("involvedObject.uid=u2").matches(event)


def test_label_selector_object_with_expressions() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
    }
    assert selector_from_label_selector(selector).matches(POD)
    assert not selector_from_label_selector(
        {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}
    ).matches(POD)
    assert not selector_from_label_selector(None).matches(POD)
