"""Least privilege, read from the rendered ClusterRoles: what a security reviewer signs off on."""

from __future__ import annotations

import os

import pytest
import yaml

from smart_sre.api.debugpolicy import TargetKind

from .conftest import DEPLOY, OVERLAYS, one, render
from .test_manifests import validate

# Where each remediation target kind lives in the API: the only kinds the operator may patch.
_RESOURCES = {
    TargetKind.DEPLOYMENT: ("apps", "deployments"),
    TargetKind.STATEFUL_SET: ("apps", "statefulsets"),
    TargetKind.DAEMON_SET: ("apps", "daemonsets"),
    TargetKind.REPLICA_SET: ("apps", "replicasets"),
    TargetKind.POD: ("", "pods"),
}
OWN = "smartsre.io"
REMEDIATION = "smart-sre-operator-remediation"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
# After an approved fix, the pods a StatefulSet's or DaemonSet's controller leaves stuck on the old
# template are deleted (smart_sre.k8s.stuck_pods): the one delete on a workload's objects, remediation's.
DELETE_STUCK_PODS = ("", "pods", "delete")
DANGEROUS_VERBS = {"escalate", "bind", "impersonate", "approve", "sign"}


def _grants(role: dict) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    }


def _roles(objects: list[dict] | None = None) -> dict[str, dict]:
    objects = render("base") if objects is None else objects
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"}


def _operator(objects: list[dict]) -> dict:
    """The operator pod's service account, as a binding names it."""
    deployment = one(objects, "Deployment")
    return {
        "kind": "ServiceAccount",
        "name": deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "namespace": deployment["metadata"]["namespace"],
    }


def _bindings(objects: list[dict], kind: str) -> list[dict]:
    """The bindings of `kind` (ClusterRoleBinding, RoleBinding) naming the operator's service account."""
    subject = _operator(objects)
    return [o for o in objects if o["kind"] == kind and subject in o["subjects"]]


def _cluster_wide(objects: list[dict] | None = None) -> set[tuple[str, str, str]]:
    """Everything the operator may do in every namespace: the ClusterRoles bound to it cluster-wide."""
    objects = render("base") if objects is None else objects
    roles = _roles(objects)
    return {
        grant
        for binding in _bindings(objects, "ClusterRoleBinding")
        for grant in _grants(roles[binding["roleRef"]["name"]])
    }


def _remediation() -> set[tuple[str, str, str]]:
    """What the remediation role grants: patch on every remediation kind, and deleting stuck pods."""
    return {(group, resource, "patch") for group, resource in _RESOURCES.values()} | {DELETE_STUCK_PODS}


def _workload_patches(grants: set[tuple[str, str, str]]) -> set[tuple[str, str]]:
    return {(group, resource) for group, resource, verb in grants if verb == "patch"} & set(
        _RESOURCES.values()
    )


def test_no_wildcards_and_no_non_resource_urls() -> None:
    for name, role in _roles().items():
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), f"{name}: wildcard in {field}"
            assert "nonResourceURLs" not in rule, name
        assert "aggregationRule" not in role, name


def test_no_access_to_secrets_at_all() -> None:
    for name, role in _roles().items():
        assert not [g for g in _grants(role) if g[1].split("/")[0] == "secrets"], name


def test_no_privilege_escalation_verbs() -> None:
    for name, role in _roles().items():
        assert not {verb for _, _, verb in _grants(role)} & DANGEROUS_VERBS, name


def test_operator_patches_only_what_remediation_allows() -> None:
    grants = _cluster_wide()
    patched = {(group, resource) for group, resource, verb in grants if verb == "patch"}
    own = {
        (OWN, "diagnosticreports"),
        (OWN, "diagnosticreports/status"),
        (OWN, "debugpolicies/status"),
    }
    assert patched == set(_RESOURCES.values()) | own
    assert set(_RESOURCES) == set(TargetKind), "a new remediation kind needs its RBAC decided here"


def test_operator_writes_only_reports_and_events() -> None:
    grants = _cluster_wide()
    written = {(group, resource, verb) for group, resource, verb in grants if verb in WRITE_VERBS - {"patch"}}
    assert written == {
        (OWN, "diagnosticreports", "create"),
        (OWN, "diagnosticreports", "delete"),
        ("", "events", "create"),
        DELETE_STUCK_PODS,
        # Whether an approver may make the change themselves: without it every approval is refused.
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
    }


def test_operator_reads_what_an_sre_looks_at() -> None:
    grants = _cluster_wide()
    for group, resource in [
        ("", "pods"),
        ("", "events"),
        ("", "nodes"),
        ("", "services"),
        ("", "endpoints"),
        ("", "configmaps"),
        ("", "persistentvolumeclaims"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        (OWN, "debugpolicies"),
        (OWN, "diagnosticreports"),
    ]:
        assert {(group, resource, v) for v in ("get", "list", "watch")} <= grants, resource
    assert ("", "pods/log", "get") in grants
    # The revision history a StatefulSet's or DaemonSet's "what changed" reads.
    assert {("apps", "controllerrevisions", v) for v in ("get", "list")} <= grants


def test_approver_may_decide_on_reports_and_nothing_else() -> None:
    grants = _grants(_roles()["smart-sre-approver"])
    assert grants == {(OWN, "diagnosticreports", verb) for verb in ("get", "list", "watch", "patch")}


def test_operator_roles_are_bound_to_the_pods_service_account() -> None:
    objects = render("base")
    for name in ("smart-sre-operator", REMEDIATION):
        binding = one(objects, "ClusterRoleBinding", name)
        assert binding["roleRef"]["name"] == name
        assert binding["subjects"] == [_operator(objects)]
    assert not [
        o
        for o in objects
        if o["kind"] == "ClusterRoleBinding" and o["roleRef"]["name"] == "smart-sre-approver"
    ]


def test_workload_patch_rights_are_a_role_of_their_own() -> None:
    """So an install can bind them per namespace (deploy/overlays/namespaced) and keep the rest."""
    roles = _roles()
    assert _grants(roles[REMEDIATION]) == _remediation()
    assert not _workload_patches(_grants(roles["smart-sre-operator"]))
    assert DELETE_STUCK_PODS not in _grants(roles["smart-sre-operator"])


@pytest.fixture(scope="module", params=OVERLAYS)
def namespaced(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[dict]]:
    """An install with the namespaced component added, as the user's own kustomization adds it."""
    install = request.param
    directory = tmp_path_factory.mktemp(f"namespaced-{install}")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(DEPLOY / "overlays" / install, directory)],
        "components": [os.path.relpath(DEPLOY / "overlays" / "namespaced", directory)],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return install, render(os.path.relpath(directory, DEPLOY))


def test_the_namespaced_install_renders_and_validates(namespaced: tuple[str, list[dict]]) -> None:
    _, objects = namespaced
    for obj in objects:
        validate(obj)


def test_the_namespaced_install_patches_workloads_only_in_the_namespaces_it_lists(
    namespaced: tuple[str, list[dict]],
) -> None:
    install, objects = namespaced
    cluster_wide = _cluster_wide(objects)
    assert not _workload_patches(cluster_wide), "a workload patch right is still bound cluster-wide"
    assert DELETE_STUCK_PODS not in cluster_wide, "deleting pods is still bound cluster-wide"
    # Nothing else is lost: reads, reports and events stay cluster-wide.
    assert cluster_wide == _cluster_wide(render(f"overlays/{install}")) - _remediation()
    listed = (DEPLOY / "overlays" / "namespaced" / "rolebindings.yaml").read_text()
    bindings = _bindings(objects, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(
        doc["metadata"]["namespace"] for doc in yaml.safe_load_all(listed) if doc
    )
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": REMEDIATION,
        }
    # Everything but the bindings is the plain install, unchanged.
    plain = [o for o in render(f"overlays/{install}") if o["kind"] != "ClusterRoleBinding"]
    assert [o for o in objects if o["kind"] not in ("ClusterRoleBinding", "RoleBinding")] == plain
