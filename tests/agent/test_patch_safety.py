"""A patch is offered only when it is aimed right, touches allowed fields, applies, and is guarded."""

from __future__ import annotations

import jsonpatch
import pytest

from smart_sre.api.debugpolicy import Remediation
from smart_sre.investigation.patch_safety import PatchRejected, path_allowed, vet_patch
from smart_sre.k8s.owners import owner_chain

from .fakes import FakeCluster
from .scenarios import pending_pod_cluster

MEMORY = "/spec/template/spec/containers/0/resources/requests/memory"


async def _chain():
    objects, pod = pending_pod_cluster()
    cluster = FakeCluster(objects)
    return cluster, await owner_chain(cluster, pod)


async def test_a_good_patch_is_guarded_hashed_and_reversible() -> None:
    cluster, chain = await _chain()
    ops = [{"op": "replace", "path": MEMORY, "value": "7Gi"}]
    safe = await vet_patch(cluster, chain, "Deployment/analytics", ops, Remediation())
    operations = [
        op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in safe.suggested.operations
    ]
    assert operations[0] == {"op": "test", "path": "/metadata/uid", "value": "uid-deploy-analytics"}
    assert {"op": "test", "path": MEMORY, "value": "16Gi"} in operations
    assert operations[-1] == ops[0]
    assert len(safe.suggested.sha256) == 64
    assert cluster.dry_run_calls == [("Deployment", "analytics", operations)]
    deployment = await cluster.get("Deployment", "shop", "analytics")
    patched = jsonpatch.apply_patch(deployment, operations)
    rollback = [
        op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in safe.rollback.operations
    ]
    assert jsonpatch.apply_patch(patched, rollback) == deployment


async def test_a_stale_target_makes_the_guarded_patch_fail() -> None:
    cluster, chain = await _chain()
    ops = [{"op": "replace", "path": MEMORY, "value": "7Gi"}]
    safe = await vet_patch(cluster, chain, "Deployment/analytics", ops, Remediation())
    operations = [
        op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in safe.suggested.operations
    ]
    deployment = await cluster.get("Deployment", "shop", "analytics")
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = "12Gi"
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(deployment, operations)


@pytest.mark.parametrize(
    ("target", "ops", "why"),
    [
        (
            "ClusterRoleBinding/cluster-admin",
            [{"op": "add", "path": "/subjects/-", "value": "x"}],
            "owner chain",
        ),
        ("ReplicaSet/analytics-7d4b9", [{"op": "replace", "path": MEMORY, "value": "7Gi"}], "does not allow"),
        (
            "Deployment/analytics",
            [
                {
                    "op": "add",
                    "path": "/spec/template/spec/containers/0/securityContext",
                    "value": {"privileged": True},
                }
            ],
            "allowed paths",
        ),
        (
            "Deployment/analytics",
            [{"op": "add", "path": "/spec/template/spec/hostNetwork", "value": True}],
            "allowed paths",
        ),
        (
            "Deployment/analytics",
            [{"op": "replace", "path": "/spec/template/spec/serviceAccountName", "value": "admin"}],
            "allowed paths",
        ),
        (
            "Deployment/analytics",
            [{"op": "add", "path": "/spec/template/spec/volumes/-", "value": {"name": "h"}}],
            "allowed paths",
        ),
        ("Deployment/analytics", [{"op": "replace", "path": "/spec/replicas", "value": 0}], "allowed paths"),
        (
            "Deployment/analytics",
            [{"op": "move", "from": MEMORY, "path": "/spec/template/spec/containers/0/image"}],
            "only add, replace and remove",
        ),
        (
            "Deployment/analytics",
            [{"op": "replace", "path": "/spec/template/spec/containers/3/image", "value": "x:1"}],
            "does not apply",
        ),
    ],
)
async def test_unsafe_patches_are_not_offered(target: str, ops: list[dict], why: str) -> None:
    cluster, chain = await _chain()
    with pytest.raises(PatchRejected, match=why):
        await vet_patch(cluster, chain, target, ops, Remediation())
    assert cluster.dry_run_calls == []


def test_pod_targets_use_the_pod_spec_paths() -> None:
    patterns = Remediation().allowed_paths
    assert path_allowed("Pod", "/spec/containers/0/image", patterns)
    assert not path_allowed("Pod", "/spec/template/spec/containers/0/image", patterns)
    assert path_allowed("Deployment", "/spec/template/spec/containers/0/env/1/value", patterns)
    assert not path_allowed(
        "Deployment", "/spec/template/spec/containers/0/securityContext/privileged", patterns
    )


async def test_adding_a_field_pins_its_parent_or_the_generation() -> None:
    cluster, chain = await _chain()
    requests = "/spec/template/spec/containers/0/resources/requests"
    small = [{"op": "add", "path": f"{requests}/ephemeral-storage", "value": "1Gi"}]
    safe = await vet_patch(cluster, chain, "Deployment/analytics", small, Remediation())
    guards = [op for op in safe.suggested.operations if op.op == "test"]
    assert [g.path for g in guards] == ["/metadata/uid", requests]
    deployment = next(o for o in cluster.objects if o["kind"] == "Deployment")
    deployment["metadata"]["generation"] = 4
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": f"V{i}", "value": "x" * 40} for i in range(20)
    ]
    chain = await owner_chain(cluster, next(o for o in cluster.objects if o["kind"] == "Pod"))
    big = [
        {
            "op": "add",
            "path": "/spec/template/spec/tolerations",
            "value": [{"key": "k", "operator": "Exists"}],
        }
    ]
    safe = await vet_patch(cluster, chain, "Deployment/analytics", big, Remediation())
    guards = [op for op in safe.suggested.operations if op.op == "test"]
    assert [(g.path, g.value) for g in guards][1:] == [("/metadata/generation", 4)]
