"""`may_patch`: the API server's own authorizer decides whether the approver may patch the target.

Each test grants rights with real RBAC objects on the sandbox and asks through the operator's API
client, as the approval path does before it applies a patch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from smart_sre.api.diagnosticreport import PatchTarget
from smart_sre.k8s.access import Access, may_patch
from smart_sre.k8s.cluster import Cluster
from smart_sre_harness.processes import free_port

LEDGER = PatchTarget(api_version="apps/v1", kind="Deployment", namespace="default", name="ledger")
RBAC = "rbac.authorization.k8s.io/v1"


def grants() -> list[dict]:
    """alice may patch Deployments in default; the sre-oncall group may patch them anywhere."""
    patcher = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}
    return [
        {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "patcher"}, "rules": [patcher]},
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "alice-patches"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "patcher"},
            "subjects": [{"kind": "User", "name": "alice"}],
        },
        {
            "apiVersion": RBAC,
            "kind": "ClusterRole",
            "metadata": {"name": "oncall-patcher"},
            "rules": [patcher],
        },
        {
            "apiVersion": RBAC,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "oncall-patches"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "oncall-patcher",
            },
            "subjects": [{"kind": "Group", "name": "sre-oncall"}],
        },
    ]


def check(kubeconfig: Path, user: str, groups: Sequence[str] = (), target: PatchTarget = LEDGER) -> Access:
    """may_patch through a client built from ``kubeconfig``, as the operator builds its own."""

    async def ask() -> Access:
        cluster = Cluster.from_config(str(kubeconfig))
        try:
            return await may_patch(cluster, user=user, groups=groups, target=target)
        finally:
            cluster.close()

    return asyncio.run(ask())


@pytest.fixture
def granted(sandbox) -> Path:
    """The administrator's kubeconfig (the operator's stand-in) on a sandbox with the grants applied."""
    sandbox.apply(grants())
    return sandbox.kubeconfig


def test_an_approver_who_may_patch_the_target_is_allowed_and_told_by_what(granted) -> None:
    access = check(granted, "alice")
    assert access == Access(
        True, 'RBAC: allowed by RoleBinding "alice-patches/default" of Role "patcher" to User "alice"'
    )


def test_an_approver_who_may_not_patch_the_target_is_refused_with_the_servers_words(granted) -> None:
    access = check(granted, "mallory", ["sre-reviewers", "system:authenticated"])
    assert not access.allowed
    assert access.reason == (
        'User "mallory" cannot patch resource "deployments" in API group "apps" in the namespace "default"'
    )


def test_rights_end_at_the_namespace_of_the_binding(granted) -> None:
    elsewhere = LEDGER.model_copy(update={"namespace": "payments"})
    assert not check(granted, "alice", target=elsewhere).allowed


def test_a_group_counts_only_when_the_approvers_groups_are_passed(granted) -> None:
    with_group = check(granted, "bob", ["sre-oncall"])
    assert with_group.allowed
    assert 'ClusterRoleBinding "oncall-patches"' in with_group.reason
    assert 'to Group "sre-oncall"' in with_group.reason
    assert not check(granted, "bob").allowed


def test_a_kind_the_server_does_not_serve_is_refused(granted) -> None:
    widget = LEDGER.model_copy(update={"kind": "Widget"})
    assert check(granted, "alice", target=widget) == Access(
        False, "the API server serves no Widget in apps/v1"
    )


def test_no_approver_is_refused(granted) -> None:
    access = check(granted, "")
    assert not access.allowed
    assert "approvedBy" in access.reason


def test_an_operator_that_may_not_review_access_allows_nothing(sandbox, granted) -> None:
    # The operator's service account without `create subjectaccessreviews` in its ClusterRole.
    operator = sandbox.kubeconfig_for("system:serviceaccount:smart-sre:smart-sre")
    access = check(operator, "alice")
    assert not access.allowed
    assert "subjectaccessreviews.authorization.k8s.io is forbidden" in access.reason
    assert 'User "system:serviceaccount:smart-sre:smart-sre" cannot create resource' in access.reason


def test_an_unreachable_api_server_allows_nothing(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "gone.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
                "users": [{"name": "operator", "user": {"token": "x"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "operator"}}],
                "current-context": "gone",
            }
        )
    )
    access = check(kubeconfig, "alice")
    assert not access.allowed
    assert "cannot reach the API server" in access.reason
