"""Least privilege, read from the rendered ClusterRoles: what a security reviewer signs off on."""

from __future__ import annotations

from smart_sre.api.debugpolicy import TargetKind

from .conftest import one, render

# Where each remediation target kind lives in the API: the only kinds the operator may patch.
_RESOURCES = {
    TargetKind.DEPLOYMENT: ("apps", "deployments"),
    TargetKind.STATEFUL_SET: ("apps", "statefulsets"),
    TargetKind.DAEMON_SET: ("apps", "daemonsets"),
    TargetKind.REPLICA_SET: ("apps", "replicasets"),
    TargetKind.POD: ("", "pods"),
}
OWN = "smartsre.io"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
DANGEROUS_VERBS = {"escalate", "bind", "impersonate", "approve", "sign"}


def _grants(role: dict) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    }


def _roles() -> dict[str, dict]:
    objects = render("base")
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"}


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
    grants = _grants(_roles()["smart-sre-operator"])
    patched = {(group, resource) for group, resource, verb in grants if verb == "patch"}
    own = {
        (OWN, "diagnosticreports"),
        (OWN, "diagnosticreports/status"),
        (OWN, "debugpolicies/status"),
    }
    assert patched == set(_RESOURCES.values()) | own
    assert set(_RESOURCES) == set(TargetKind), "a new remediation kind needs its RBAC decided here"


def test_operator_writes_only_reports_and_events() -> None:
    grants = _grants(_roles()["smart-sre-operator"])
    written = {(group, resource, verb) for group, resource, verb in grants if verb in WRITE_VERBS - {"patch"}}
    assert written == {
        (OWN, "diagnosticreports", "create"),
        (OWN, "diagnosticreports", "delete"),
        ("", "events", "create"),
    }


def test_operator_reads_what_an_sre_looks_at() -> None:
    grants = _grants(_roles()["smart-sre-operator"])
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


def test_approver_may_decide_on_reports_and_nothing_else() -> None:
    grants = _grants(_roles()["smart-sre-approver"])
    assert grants == {(OWN, "diagnosticreports", verb) for verb in ("get", "list", "watch", "patch")}


def test_operator_role_is_bound_to_the_pods_service_account() -> None:
    objects = render("base")
    binding = one(objects, "ClusterRoleBinding", "smart-sre-operator")
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    deployment_ns = one(objects, "Deployment")["metadata"]["namespace"]
    assert binding["roleRef"]["name"] == "smart-sre-operator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": deployment_ns}
    ]
    assert not [
        o
        for o in objects
        if o["kind"] == "ClusterRoleBinding" and o["roleRef"]["name"] == "smart-sre-approver"
    ]
