"""Telling Argo CD, Flux and Helm workloads apart by their marks, and the fix as a file to commit.

The marks are labels and annotations anyone who may edit the workload can write, so they are also fed
values no tool would write: the result must stay bounded and show nothing but valid names.
"""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest
import yaml

from smart_sre.api.debugpolicy import GitOpsManaged
from smart_sre.api.diagnosticreport import ManagedBy, Management, PatchOperation, PatchTarget
from smart_sre.k8s.gitops import detect, json6902_file, kustomize_patch, managed, managed_by
from smart_sre_harness.testing import kubectl_path

TRACKING_ID = "argocd.argoproj.io/tracking-id"
HOSTILE = "\x1b]0;owned\x07\n" + "x" * 100_000


def workload(
    kind: str = "Deployment",
    name: str = "web",
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "shop", "uid": f"uid-{name}"}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    if owner:
        metadata["ownerReferences"] = [{**owner, "controller": True}]
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata}


def seen(management: Management | None) -> tuple[Any, ...] | None:
    """What a reviewer reads of a management: tool, kind, namespace/name, certain, evidence."""
    if management is None:
        return None
    where = f"{management.namespace}/{management.name}"
    return (management.tool, management.kind, where, management.certain, management.evidence)


CASES = {
    "Argo CD tracking-id": (
        workload(annotations={TRACKING_ID: "shop:apps/Deployment:shop/web"}),
        ("ArgoCD", "Application", "None/shop", True, f"annotation {TRACKING_ID} on Deployment web"),
    ),
    "Argo CD app in any namespace": (
        workload(annotations={TRACKING_ID: "team-a_shop:apps/Deployment:shop/web"}),
        ("ArgoCD", "Application", "team-a/shop", True, f"annotation {TRACKING_ID} on Deployment web"),
    ),
    "Flux Kustomization": (
        workload(
            labels={
                "kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            }
        ),
        (
            "Flux",
            "Kustomization",
            "flux-system/apps",
            True,
            "label kustomize.toolkit.fluxcd.io/name on Deployment web",
        ),
    ),
    "Flux HelmRelease (a Helm release too)": (
        workload(
            labels={
                "helm.toolkit.fluxcd.io/name": "podinfo",
                "helm.toolkit.fluxcd.io/namespace": "flux-system",
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/instance": "podinfo",
            },
            annotations={"meta.helm.sh/release-name": "podinfo", "meta.helm.sh/release-namespace": "shop"},
        ),
        (
            "Flux",
            "HelmRelease",
            "flux-system/podinfo",
            True,
            "label helm.toolkit.fluxcd.io/name on Deployment web",
        ),
    ),
    "helm install": (
        workload(
            labels={"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "web"},
            annotations={"meta.helm.sh/release-name": "web", "meta.helm.sh/release-namespace": "shop"},
        ),
        ("Helm", "Release", "shop/web", True, "annotation meta.helm.sh/release-name on Deployment web"),
    ),
    "a chart's labels alone": (
        workload(labels={"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "web"}),
        ("Helm", "Release", "None/web", False, "label app.kubernetes.io/managed-by=Helm on Deployment web"),
    ),
    "the instance label alone": (
        workload(labels={"app.kubernetes.io/instance": "shop"}),
        ("ArgoCD", "Application", "None/shop", False, "label app.kubernetes.io/instance on Deployment web"),
    ),
    "hostile values": (
        workload(
            labels={
                "kustomize.toolkit.fluxcd.io/name": HOSTILE,
                "kustomize.toolkit.fluxcd.io/namespace": "Not_A_NS",
            },
            annotations={TRACKING_ID: HOSTILE},
        ),
        ("ArgoCD", "Application", "None/None", True, f"annotation {TRACKING_ID} on Deployment web"),
    ),
    "none": (workload(labels={"app": "web"}, annotations={"deployment.kubernetes.io/revision": "3"}), None),
}


@pytest.mark.parametrize("case", CASES)
def test_the_tool_its_object_and_the_evidence_are_read_from_the_marks(case: str) -> None:
    obj, expected = CASES[case]
    assert seen(detect([obj])) == expected


def test_a_hostile_mark_still_counts_but_shows_nothing_of_its_value() -> None:
    flux = workload(labels={"kustomize.toolkit.fluxcd.io/name": HOSTILE})
    management = detect([flux])
    assert management is not None
    assert management.certain
    assert (management.name, management.namespace) == (None, None)
    shown = managed_by_note(flux)
    assert "Flux Kustomization (its name is not a valid Kubernetes name)" in shown
    assert "\x1b" not in shown
    assert "xxx" not in shown
    assert len(shown) <= 1024


def test_a_tool_s_own_mark_on_an_owner_beats_a_label_anyone_writes_on_the_target() -> None:
    owner = workload(annotations={TRACKING_ID: "shop:apps/Deployment:shop/web"})
    target = workload("ReplicaSet", "web-7d9c", labels={"app.kubernetes.io/instance": "web"})
    assert seen(detect([target, owner])) == (
        "ArgoCD",
        "Application",
        "None/shop",
        True,
        f"annotation {TRACKING_ID} on Deployment web",
    )


class Cluster:
    """Objects by kind and name, as the API server returns them."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}

    async def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, name))


def target(kind: str = "Deployment", name: str = "web") -> PatchTarget:
    return PatchTarget(api_version="apps/v1", kind=kind, namespace="shop", name=name)


async def test_the_live_target_and_its_owners_are_read_by_uid() -> None:
    deployment = workload(labels={"helm.toolkit.fluxcd.io/name": "web"})
    reference = {"kind": "Deployment", "name": "web"}
    owned = workload("ReplicaSet", "web-7d9c", owner={**reference, "uid": "uid-web"})
    spoofed = workload("ReplicaSet", "web-spoof", owner={**reference, "uid": "uid-other"})
    cluster = Cluster(deployment, owned, spoofed)
    assert seen(await managed(cluster, target("ReplicaSet", "web-7d9c"))) == (
        "Flux",
        "HelmRelease",
        "None/web",
        True,
        "label helm.toolkit.fluxcd.io/name on Deployment web",
    )
    assert await managed(cluster, target("ReplicaSet", "web-spoof")) is None
    assert await managed(cluster, target("Deployment", "gone")) is None


def managed_by_note(obj: dict[str, Any], mode: GitOpsManaged = GitOpsManaged.SUGGEST) -> str:
    status = asyncio.run(
        managed_by(
            Cluster(obj),
            target(obj["kind"], obj["metadata"]["name"]),
            mode=mode,
            policy="seed",
            report="web-1",
        )
    )
    assert isinstance(status, ManagedBy)
    return status.note


@pytest.mark.parametrize(
    ("case", "mode", "says"),
    [
        ("Argo CD tracking-id", GitOpsManaged.SUGGEST, "smart-sre does not apply the fix live (policy seed"),
        ("Argo CD tracking-id", GitOpsManaged.APPLY, "policy seed allows applying it live"),
        ("the instance label alone", GitOpsManaged.SUGGEST, "an approved fix is still applied live"),
    ],
)
def test_the_note_says_what_a_live_patch_meets_and_what_to_do(
    case: str, mode: GitOpsManaged, says: str
) -> None:
    note = managed_by_note(CASES[case][0], mode)
    assert note.startswith(
        ("Managed by Argo CD Application shop", "May be managed by Argo CD Application shop")
    )
    assert "drift (OutOfSync)" in note
    assert says in note
    assert "kubectl sre show web-1 --as-kustomize-patch" in note


# --- The fix as a file to commit ---------------------------------------------------------------------------

MEMORY = "/spec/template/spec/containers/0/resources/requests/memory"
# As the analysis stores a vetted patch: guards first, on the uid and on each changed value.
GUARDED = [
    {"op": "test", "path": "/metadata/uid", "value": "uid-web"},
    {"op": "test", "path": MEMORY, "value": "64Gi"},
    {"op": "test", "path": "/spec/template/spec/containers/0/env", "value": [{"name": "MODE", "value": "a"}]},
    {"op": "replace", "path": MEMORY, "value": "256Mi"},
    # Values YAML 1.1 (kustomize) would read as a boolean, a number and an octal number if written plain.
    {
        "op": "add",
        "path": "/spec/template/spec/containers/0/env/-",
        "value": {"name": "VERBOSE", "value": "y"},
    },
    {
        "op": "add",
        "path": "/spec/template/spec/containers/0/env/-",
        "value": {"name": "RATE", "value": "1e3"},
    },
    {
        "op": "add",
        "path": "/spec/template/spec/nodeSelector",
        "value": {"on": "0755", "kubernetes.io/os": "linux"},
    },
    {
        "op": "add",
        "path": "/spec/template/spec/containers/0/env/-",
        "value": {"name": "GREETING", "value": "grüß\x1b[2J"},
    },
]
OPERATIONS = [PatchOperation.model_validate(operation) for operation in GUARDED]


def manifest() -> dict[str, Any]:
    """The Deployment as it is in Git: no uid, no server defaults."""
    container = {"name": "app", "image": "web:1", "env": [{"name": "MODE", "value": "a"}]}
    container["resources"] = {"requests": {"memory": "64Gi"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def test_the_json6902_file_is_the_change_without_its_guards() -> None:
    text = json6902_file(OPERATIONS)
    assert text.isascii()
    assert "\x1b" not in text
    assert yaml.safe_load(text) == [operation for operation in GUARDED if operation["op"] != "test"]


@pytest.mark.kubectl
def test_kubectl_kustomize_applies_the_patch_file_to_the_manifest_in_git(tmp_path) -> None:
    text = kustomize_patch(target(), OPERATIONS, header=["Fix for Deployment shop/web"])
    assert text.startswith("# Fix for Deployment shop/web\n")
    assert text.isascii()
    assert "\x1b" not in text
    (tmp_path / "deployment.yaml").write_text(yaml.safe_dump(manifest()))
    (tmp_path / "kustomization.yaml").write_text(text + "resources:\n- deployment.yaml\n")
    built = subprocess.run(
        [kubectl_path(), "kustomize", str(tmp_path)], capture_output=True, text=True, check=True
    )
    fixed = yaml.safe_load(built.stdout)
    spec = fixed["spec"]["template"]["spec"]
    assert spec["containers"][0]["resources"]["requests"]["memory"] == "256Mi"
    assert spec["containers"][0]["env"] == [
        {"name": "MODE", "value": "a"},
        {"name": "VERBOSE", "value": "y"},
        {"name": "RATE", "value": "1e3"},
        {"name": "GREETING", "value": "grüß\x1b[2J"},
    ]
    assert spec["nodeSelector"] == {"on": "0755", "kubernetes.io/os": "linux"}


def test_the_kustomize_target_names_group_version_kind_name_and_namespace() -> None:
    (entry,) = yaml.safe_load(kustomize_patch(target(), OPERATIONS))["patches"]
    assert entry["target"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "name": "web",
        "namespace": "shop",
    }
    pod = PatchTarget(api_version="v1", kind="Pod", namespace="shop", name="web-1")
    (core,) = yaml.safe_load(kustomize_patch(pod, OPERATIONS))["patches"]
    assert core["target"] == {"version": "v1", "kind": "Pod", "name": "web-1", "namespace": "shop"}
