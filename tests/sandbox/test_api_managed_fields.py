"""metadata.managedFields as a real API server keeps them: who set which field, seen by kubectl and clients."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from smart_sre.api.diagnosticreport import ObservedReport
from smart_sre.lifecycle.approval import approved_by
from smart_sre_harness.testing import DEFAULT_TIME_SCALE
from smart_sre_sandbox.store import Store

CRDS = Path(__file__).resolve().parents[2] / "crds"
SHA = "ab" * 32
MERGE = "application/merge-patch+json"

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  schedulerName: by-hand  # no simulated scheduler or kubelet writes to it
  containers:
    - name: app
      image: nginx:1.27
      ports: [{containerPort: 80}]
      env: [{name: MODE, value: prod}]
"""

REPORT = """
apiVersion: smartsre.io/v1alpha1
kind: DiagnosticReport
metadata:
  name: checkout-oom
spec:
  podRef: {name: checkout-7d9f, uid: 0b5c0d3e-0000-4000-8000-000000000001}
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: checkout, uid: 0b5c0d3e-0000-4000-8000-000000000002}
  trigger: CrashLoopBackOff
  policyRef: {name: protect-critical-services}
"""


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"time_scale": DEFAULT_TIME_SCALE, "crds_dir": CRDS}


@pytest.fixture
def api(sandbox) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    yield api_client
    api_client.close()


def entries(obj: dict) -> dict[str, dict]:
    """managedFields by manager (each test's managers write one operation and subresource)."""
    found = obj["metadata"].get("managedFields") or []
    by_manager = {entry["manager"]: entry for entry in found}
    assert len(by_manager) == len(found), f"one entry per manager expected: {found}"
    return by_manager


def config_map(api: client.ApiClient, name: str, **kwargs: Any) -> dict:
    body = {"metadata": {"name": name}, "data": {"a": "1", "b": "2"}}
    client.CoreV1Api(api).create_namespaced_config_map("default", body, **kwargs)
    return raw_config_map(api, name)


def raw_config_map(api: client.ApiClient, name: str) -> dict:
    response = client.CoreV1Api(api).read_namespaced_config_map(name, "default", _preload_content=False)
    return json.loads(response.data)


def test_a_create_records_its_manager_and_every_field_it_set(api) -> None:
    created = config_map(api, "settings")
    [entry] = created["metadata"]["managedFields"]
    # No fieldManager: kube-apiserver names the writer after its User-Agent's product.
    assert entry["manager"] == "OpenAPI-Generator"
    assert entry["operation"] == "Update"
    assert entry["apiVersion"] == "v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert "subresource" not in entry
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}, "f:b": {}}}
    assert time.strptime(entry["time"], "%Y-%m-%dT%H:%M:%SZ")

    named = config_map(api, "named", field_manager="settings-writer")
    assert [e["manager"] for e in named["metadata"]["managedFields"]] == ["settings-writer"]


def test_ownership_moves_to_the_manager_that_changes_a_field(api) -> None:
    core = client.CoreV1Api(api)
    config_map(api, "owned", field_manager="first")
    core.patch_namespaced_config_map("owned", "default", {"data": {"a": "changed"}}, field_manager="second")
    after = entries(raw_config_map(api, "owned"))
    assert after["first"]["fieldsV1"] == {"f:data": {".": {}, "f:b": {}}}
    assert after["second"]["fieldsV1"] == {"f:data": {"f:a": {}}}

    core.patch_namespaced_config_map("owned", "default", {"data": {"b": None}}, field_manager="second")
    after = entries(raw_config_map(api, "owned"))
    assert after["first"]["fieldsV1"] == {"f:data": {}}, "a removed field leaves its owner"

    core.patch_namespaced_config_map("owned", "default", {"data": {"c": "3"}}, field_manager="first")
    core.patch_namespaced_config_map("owned", "default", {"data": None}, field_manager="second")
    assert "managedFields" not in raw_config_map(api, "owned")["metadata"], "managers left with nothing go"


def test_a_write_that_changes_nothing_moves_neither_version_nor_time(api) -> None:
    core = client.CoreV1Api(api)
    config_map(api, "steady", field_manager="first")
    core.patch_namespaced_config_map("steady", "default", {"data": {"a": "9"}}, field_manager="second")
    before = raw_config_map(api, "steady")
    core.patch_namespaced_config_map("steady", "default", {"data": {"a": "9"}}, field_manager="third")
    after = raw_config_map(api, "steady")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["managedFields"] == before["metadata"]["managedFields"]


async def test_the_writers_entry_is_updated_in_place_and_its_time_moves() -> None:
    moment = [datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)]
    store = Store(clock=lambda: moment[0])
    maps = store.resource("configmaps")
    await store.create(maps, {"metadata": {"name": "c"}, "data": {"a": "1"}}, field_manager="first")
    moment[0] += timedelta(minutes=5)
    await store.patch(maps, "default", "c", MERGE, {"data": {"b": "2"}}, field_manager="first")
    [entry] = (await store.get(maps, "default", "c"))["metadata"]["managedFields"]
    assert entry["time"] == "2026-01-05T10:05:00Z"
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}, "f:b": {}}}, (
        "earlier fields stay the writer's"
    )

    moment[0] += timedelta(minutes=5)
    await store.patch(maps, "default", "c", MERGE, {"data": {"a": None}}, field_manager="first")
    [entry] = (await store.get(maps, "default", "c"))["metadata"]["managedFields"]
    assert entry["time"] == "2026-01-05T10:05:00Z", "a write that only removes takes no field"
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:b": {}}}


def test_status_writes_are_recorded_for_the_status_subresource(sandbox, api) -> None:
    core = client.CoreV1Api(api)
    pod = yaml.safe_load(POD)
    core.create_namespaced_pod("default", pod, field_manager="deployer")
    status = {"status": {"conditions": [{"type": "Checked", "status": "True"}]}}
    core.patch_namespaced_pod_status("web", "default", status, field_manager="checker")
    found = entries(sandbox.get("pods", "default", "web"))
    assert found["checker"]["subresource"] == "status"
    assert found["checker"]["fieldsV1"] == {
        "f:status": {
            "f:conditions": {".": {}, 'k:{"type":"Checked"}': {".": {}, "f:status": {}, "f:type": {}}}
        }
    }
    creator = found["deployer"]
    assert "subresource" not in creator
    assert "f:status" not in creator["fieldsV1"], "a write of the pod never owns its status subresource"
    container = creator["fieldsV1"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert container["f:ports"]['k:{"containerPort":80,"protocol":"TCP"}'] == {
        ".": {},
        "f:containerPort": {},
        "f:protocol": {},
    }
    assert container["f:env"] == {".": {}, 'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}}


def test_clients_cannot_rewrite_managed_fields(api) -> None:
    core = client.CoreV1Api(api)
    original = config_map(api, "guarded", field_manager="first")["metadata"]["managedFields"]
    forged = [{**original[0], "manager": "someone-else"}]
    patch = {"metadata": {"managedFields": forged, "labels": {"x": "y"}}}
    core.patch_namespaced_config_map("guarded", "default", patch, field_manager="second")
    after = entries(raw_config_map(api, "guarded"))
    assert set(after) == {"first", "second"}
    assert after["second"]["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:x": {}}}}

    operations = [
        {"op": "test", "path": "/metadata/managedFields/0/manager", "value": "first"},
        {"op": "replace", "path": "/metadata/managedFields", "value": forged},
        {"op": "add", "path": "/data/c", "value": "3"},
    ]
    core.patch_namespaced_config_map("guarded", "default", operations, field_manager="third")
    after = entries(raw_config_map(api, "guarded"))
    assert set(after) == {"first", "second", "third"}, "a JSON patch sees them, but cannot change them"
    assert after["third"]["fieldsV1"] == {"f:data": {"f:c": {}}}


def test_watch_events_carry_managed_fields(api) -> None:
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    config_map(api, "watched", field_manager="first")
    stream = watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5
    )
    event = next(e for e in stream if e["object"].metadata.name == "watched")
    [entry] = event["object"].metadata.managed_fields
    assert (entry.manager, entry.operation) == ("first", "Update")


def test_a_field_manager_longer_than_128_bytes_is_invalid(sandbox, api) -> None:
    with pytest.raises(ApiException) as raised:
        config_map(api, "too-long", field_manager="m" * 129)
    assert raised.value.status == 422
    status = json.loads(raised.value.body)
    assert status["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes'
    )
    assert status["details"]["causes"][0]["field"] == "fieldManager"

    apply = requests.patch(
        f"{sandbox.url}/api/v1/namespaces/default/configmaps/anything",
        data=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "anything"}}),
        headers={"Content-Type": "application/apply-patch+yaml"},
        timeout=5,
    )
    assert apply.status_code == 422
    assert apply.json()["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )


@pytest.mark.kubectl
def test_kubectl_patch_owns_exactly_the_fields_it_patched(sandbox) -> None:
    sandbox.kubectl("create", "-f", "-", input=POD)
    sandbox.kubectl("patch", "pod", "web", "--type", "merge", "-p", '{"metadata":{"labels":{"tier":"gold"}}}')
    found = entries(sandbox.get("pods", "default", "web"))
    assert found["kubectl-patch"]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:tier": {}}}}
    assert found["kubectl-create"]["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}


@pytest.mark.kubectl
def test_kubectl_hides_managed_fields_unless_asked(sandbox) -> None:
    sandbox.kubectl("create", "configmap", "shown", "--from-literal=a=1")
    plain = yaml.safe_load(sandbox.kubectl("get", "configmap", "shown", "-o", "yaml").stdout)
    assert "managedFields" not in plain["metadata"]
    shown = yaml.safe_load(
        sandbox.kubectl("get", "configmap", "shown", "-o", "yaml", "--show-managed-fields").stdout
    )
    [entry] = shown["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl-create"
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    table = sandbox.kubectl("get", "configmap", "shown").stdout
    assert table.split() == ["NAME", "DATA", "AGE", "shown", "1", table.split()[-1]]


@pytest.mark.kubectl
def test_server_side_apply_records_an_apply_entry(sandbox) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: '1'\n"
    sandbox.kubectl("apply", "--server-side", "-f", "-", input=manifest)
    sandbox.kubectl("patch", "configmap", "applied", "--type", "merge", "-p", '{"data":{"b":"2"}}')
    applied = sandbox.get("configmaps", "default", "applied")
    found = entries(applied)
    assert found["kubectl"]["operation"] == "Apply"
    assert found["kubectl"]["fieldsV1"] == {"f:data": {"f:a": {}}}, "an Apply owns its configuration"
    assert found["kubectl-patch"]["fieldsV1"] == {"f:data": {"f:b": {}}}
    assert list(found) == ["kubectl", "kubectl-patch"], "Apply entries come first"


@pytest.mark.kubectl
def test_the_operator_resolves_a_kubectl_approval_to_kubectl_patch(sandbox, api) -> None:
    sandbox.kubectl("create", "-f", "-", input=REPORT)
    queued = {
        "type": "Queued",
        "status": "True",
        "lastTransitionTime": "2026-01-05T10:00:00Z",
        "reason": "Waiting",
        "message": "queued",
    }
    status = {"status": {"phase": "AwaitingApproval", "conditions": [queued]}}
    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        "smartsre.io",
        "v1alpha1",
        "default",
        "diagnosticreports",
        "checkout-oom",
        status,
        field_manager="smart-sre-operator",
    )
    report = sandbox.get("diagnosticreports", "default", "checkout-oom")
    assert approved_by(ObservedReport.model_validate(report)) is None
    spec = entries(report)["kubectl-create"]["fieldsV1"]["f:spec"]
    assert "." in spec, "a custom resource starts from nothing: its spec itself was added"
    assert spec["f:podRef"] == {".": {}, "f:name": {}, "f:uid": {}}

    approval = {"spec": {"approval": {"decision": "Approved", "patchSHA256": SHA}}}
    sandbox.kubectl("patch", "dr", "checkout-oom", "--type", "merge", "-p", json.dumps(approval))
    report = sandbox.get("diagnosticreports", "default", "checkout-oom")
    assert approved_by(ObservedReport.model_validate(report)) == "kubectl-patch"
    approver = entries(report)["kubectl-patch"]
    assert approver["apiVersion"] == "smartsre.io/v1alpha1"
    assert approver["fieldsV1"]["f:spec"]["f:approval"]["f:decision"] == {}
    operator = entries(report)["smart-sre-operator"]
    assert operator["subresource"] == "status"
    conditions = operator["fieldsV1"]["f:status"]["f:conditions"]  # the CRD's list-type map, keyed by type
    assert set(conditions['k:{"type":"Queued"}']) == {
        ".",
        "f:type",
        "f:status",
        "f:lastTransitionTime",
        "f:reason",
        "f:message",
    }
