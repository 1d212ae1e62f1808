"""Custom resources: serving a CRD's kinds, structural-schema validation, defaults, pruning, CEL."""

from pathlib import Path

import pytest
import yaml

from smart_sre_sandbox.errors import ApiError
from smart_sre_sandbox.store import Store

CRDS = Path(__file__).parent / "data" / "crds.yaml"


@pytest.fixture
async def store() -> Store:
    store = Store()
    for crd in yaml.safe_load_all(CRDS.read_text()):
        await store.create(store.resource("crd"), crd)
    return store


def policy(name: str, **spec: object) -> dict:
    return {
        "apiVersion": "test.sandbox.io/v1alpha1",
        "kind": "WidgetPolicy",
        "metadata": {"name": name},
        "spec": {"rules": [{"namespaces": ["default"]}], **spec},
    }


async def test_crd_is_established_and_served(store: Store) -> None:
    crd = await store.get(store.resource("crd"), None, "widgetreports.test.sandbox.io")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    reports = store.resource("wr")
    assert (reports.group, reports.version, reports.namespaced, reports.categories) == (
        "test.sandbox.io",
        "v1alpha1",
        True,
        ("widgets",),
    )
    assert store.resource("widgetpolicies").namespaced is False


async def test_defaults_are_applied_and_unknown_fields_pruned(store: Store) -> None:
    created = await store.create(
        store.resource("wp"), policy("p", bogus=1, extra={"anything": {"goes": True}})
    )
    assert created["spec"]["maxSteps"] == 8
    assert created["spec"]["rules"][0]["triggers"] == ["CrashLoopBackOff"]
    assert "bogus" not in created["spec"]
    assert created["spec"]["extra"] == {"anything": {"goes": True}}


async def test_strict_field_validation_rejects_unknown_fields(store: Store) -> None:
    with pytest.raises(ApiError) as info:
        await store.create(store.resource("wp"), policy("p", bogus=1), field_validation="Strict")
    assert info.value.code == 400
    assert info.value.message.endswith('strict decoding error: unknown field "spec.bogus"')


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"maxSteps": 0},
            "spec.maxSteps",
            "Invalid value: 0: spec.maxSteps in body should be greater than or equal to 1",
        ),
        (
            {"maxSteps": "many"},
            "spec.maxSteps",
            'Invalid value: "many": spec.maxSteps in body must be of type integer: "many"',
        ),
        ({"mode": "UP"}, "spec.mode", "Invalid value: \"UP\": spec.mode in body should match '^[a-z]+$'"),
        (
            {"rules": [{"namespaces": ["a"], "triggers": ["Nope"]}]},
            "spec.rules[0].triggers[0]",
            'Unsupported value: "Nope": supported values: "CrashLoopBackOff", "Pending"',
        ),
        ({"rules": [{}]}, "spec.rules[0].namespaces", "Required value"),
        ({"rules": [{"namespaces": ["a"]}] * 4}, "spec.rules", "Too many: 4: must have at most 3 items"),
        (
            {"rules": [{"namespaces": ["x" * 64]}]},
            "spec.rules[0].namespaces[0]",
            "Too long: may not be more than 63 bytes",
        ),
        (
            {"maxSteps": 15, "rules": [{"namespaces": ["a"]}, {"namespaces": ["b"]}]},
            "spec",
            'Invalid value: "object": more than 10 steps needs a single rule',
        ),
    ],
)
async def test_schema_violations_are_invalid_with_field_causes(
    store: Store, spec: dict, field: str, message: str
) -> None:
    with pytest.raises(ApiError) as info:
        await store.create(store.resource("wp"), policy("bad", **spec))
    status = info.value.status()
    assert status["code"] == 422
    assert status["details"]["kind"] == "WidgetPolicy"
    assert {"field": field, "message": message}.items() <= status["details"]["causes"][0].items()
    assert status["message"].startswith('WidgetPolicy.test.sandbox.io "bad" is invalid: ')


async def test_status_subresource_and_generation(store: Store) -> None:
    reports = store.resource("wr")
    report = {"metadata": {"name": "r"}, "spec": {"podRef": {"name": "web"}}, "status": {"phase": "Done"}}
    created = await store.create(reports, report)
    assert "status" not in created
    updated = await store.patch(
        reports,
        "default",
        "r",
        "application/merge-patch+json",
        {"status": {"phase": "Analyzing"}},
        subresource="status",
    )
    assert updated["status"]["phase"] == "Analyzing"
    assert updated["metadata"]["generation"] == 1
    with pytest.raises(ApiError):
        await store.patch(
            reports,
            "default",
            "r",
            "application/merge-patch+json",
            {"status": {"phase": "Bogus"}},
            subresource="status",
        )


async def test_deleting_the_crd_stops_serving_and_deletes_objects(store: Store) -> None:
    await store.create(store.resource("wp"), policy("p"))
    await store.delete(store.resource("crd"), None, "widgetpolicies.test.sandbox.io")
    with pytest.raises(ApiError):
        store.resource("wp")
    await store.create(store.resource("crd"), next(yaml.safe_load_all(CRDS.read_text())))
    assert (await store.list(store.resource("wp")))[0] == []


async def test_invalid_crd_is_rejected(store: Store) -> None:
    crd = next(yaml.safe_load_all(CRDS.read_text()))
    crd["metadata"]["name"] = "wrong.test.sandbox.io"
    crd["spec"]["versions"][0]["storage"] = False
    with pytest.raises(ApiError) as info:
        await store.create(store.resource("crd"), crd)
    fields = {c["field"] for c in info.value.causes}
    assert fields == {"metadata.name", "spec.versions"}


async def test_list_map_keys_and_date_time_format(store: Store) -> None:
    reports = store.resource("wr")
    await store.create(reports, {"metadata": {"name": "r"}, "spec": {}})
    conditions = [{"type": "Ready", "lastTransitionTime": "yesterday"}, {"type": "Ready"}]
    with pytest.raises(ApiError) as info:
        await store.patch(
            reports,
            "default",
            "r",
            "application/merge-patch+json",
            {"status": {"conditions": conditions}},
            subresource="status",
        )
    messages = {c["field"]: c["message"] for c in info.value.causes}
    assert messages["status.conditions[1]"] == 'Duplicate value: {"type":"Ready"}'
    assert messages["status.conditions[0].lastTransitionTime"].endswith(
        'must be of type date-time: "yesterday"'
    )


async def test_every_served_version_reads_the_same_objects(store: Store) -> None:
    crd = yaml.safe_load(CRDS.read_text().split("---")[1])
    beta = {**crd["spec"]["versions"][0], "name": "v1beta1", "storage": False}
    crd["spec"]["versions"].append(beta)
    await store.update(store.resource("crd"), {**crd, "metadata": {"name": crd["metadata"]["name"]}})
    stored = store.resource("wr")
    served = store.find("test.sandbox.io", "v1beta1", "widgetreports")
    assert stored.version == "v1alpha1"
    assert served is not None
    await store.create(stored, {"metadata": {"name": "r"}, "spec": {}})
    read = await store.get(served, "default", "r")
    assert read["apiVersion"] == "test.sandbox.io/v1beta1"


async def test_custom_object_names_are_dns_subdomains(store: Store) -> None:
    with pytest.raises(ApiError) as info:
        await store.create(store.resource("wp"), policy("Not_Valid"))
    assert info.value.causes[0]["field"] == "metadata.name"
