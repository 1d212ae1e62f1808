"""Patch semantics: strategic merge by the real merge keys, JSON patch, merge patch."""

import pytest

from smart_sre_sandbox.errors import ApiError
from smart_sre_sandbox.patching import apply_patch, strategic_merge_patch
from smart_sre_sandbox.resources import BUILTIN_TYPES

DEPLOYMENTS = next(t for t in BUILTIN_TYPES if t.kind == "Deployment")


def deployment() -> dict:
    containers = [
        {
            "name": "app",
            "image": "shop:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "ports": [{"containerPort": 8080}],
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}],
            "resources": {"limits": {"memory": "64Mi"}},
        },
        {"name": "sidecar", "image": "proxy:1"},
    ]
    return {
        "kind": "Deployment",
        "metadata": {"name": "shop", "finalizers": ["a"]},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": containers, "volumes": [{"name": "cfg"}]}},
        },
    }


def test_containers_merge_by_name() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "256Mi"}}}]}
            }
        }
    }
    result = strategic_merge_patch("Deployment", deployment(), patch)
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[0]["resources"]["limits"]["memory"] == "256Mi"
    assert containers[0]["image"] == "shop:1"


def test_env_merge_add_and_delete_directive() -> None:
    env_patch = [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}, {"name": "A", "$patch": "delete"}]
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "env": env_patch, "$setElementOrder/env": []}]}
            }
        }
    }
    result = strategic_merge_patch("Deployment", deployment(), patch)
    assert result["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]


def test_replace_directive_and_primitive_merge_lists() -> None:
    patch = {
        "metadata": {"finalizers": ["b"]},
        "spec": {"template": {"spec": {"volumes": [{"name": "data"}, {"$patch": "replace"}]}}},
    }
    result = strategic_merge_patch("Deployment", deployment(), patch)
    assert result["metadata"]["finalizers"] == ["a", "b"]
    assert result["spec"]["template"]["spec"]["volumes"] == [{"name": "data"}]


def test_service_ports_merge_by_port() -> None:
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    result = strategic_merge_patch(
        "Service", service, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    )
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_merge_patch_replaces_lists_and_null_deletes() -> None:
    patch = {
        "spec": {"replicas": None, "template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}
    }
    result = apply_patch(DEPLOYMENTS, deployment(), "application/merge-patch+json", patch)
    assert "replicas" not in result["spec"]
    assert result["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "x"}]


def test_json_patch() -> None:
    ops = [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/resources/limits/memory",
            "value": "256Mi",
        },
        {"op": "test", "path": "/spec/replicas", "value": 1},
    ]
    result = apply_patch(DEPLOYMENTS, deployment(), "application/json-patch+json", ops)
    assert result["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "256Mi"


@pytest.mark.parametrize(
    ("patch_type", "body", "code"),
    [
        ("application/json-patch+json", {"op": "add"}, 400),
        ("application/json-patch+json", [{"op": "remove", "path": "/spec/nope"}], 422),
        ("application/json-patch+json", [{"op": "test", "path": "/spec/replicas", "value": 5}], 422),
        ("application/merge-patch+json", [1, 2], 400),
        ("application/xml", {}, 415),
    ],
)
def test_bad_patches_are_rejected_like_kube(patch_type: str, body: object, code: int) -> None:
    with pytest.raises(ApiError) as info:
        apply_patch(DEPLOYMENTS, deployment(), patch_type, body)
    assert info.value.code == code


def test_custom_resources_refuse_strategic_merge() -> None:
    with pytest.raises(ApiError) as info:
        apply_patch(DEPLOYMENTS, deployment(), "application/strategic-merge-patch+json", {}, builtin=False)
    assert info.value.code == 415
    assert info.value.reason == "UnsupportedMediaType"
