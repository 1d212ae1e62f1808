"""Users with tokens, RBAC enforced for them, and the access reviews, through the real kubectl.

The administrator's kubeconfig works as it always did; a user added with `kubeconfig_for` talks to
the TLS port with a bearer token and may do what Roles and ClusterRoles grant it, no more.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from smart_sre_harness.testing import DEFAULT_TIME_SCALE

pytestmark = pytest.mark.kubectl

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: sandbox/web:1.0}]}
"""
GRANTS = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: web-patcher}
rules:
  - apiGroups: [apps]
    resources: [deployments]
    resourceNames: [web]
    verbs: [get, patch]
  - apiGroups: [apps]
    resources: [deployments/status]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-patches-web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web-patcher}
subjects: [{kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: status-writer}
rules:
  - apiGroups: [apps]
    resources: [deployments/status]
    verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: robots-write-status}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: status-writer}
subjects: [{kind: ServiceAccount, name: robot, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ghost}
subjects: [{kind: Group, name: sre}]
"""


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    """carol is declared up front, as `Sandbox(users=...)` takes users; the others come from kubeconfig_for."""
    return {"time_scale": DEFAULT_TIME_SCALE, "users": {"carol": ["ops"]}}


def as_user(sandbox, kubeconfig: Path, *args: str, stdin: str | None = None):
    return sandbox.kubectl("--kubeconfig", str(kubeconfig), *args, input=stdin, check=False)


@pytest.fixture
def alice(sandbox) -> Path:
    sandbox.kubectl("apply", "-f", "-", input=DEPLOYMENT + "---" + GRANTS)
    return sandbox.kubeconfig_for("alice", ["sre"])


def test_the_administrators_kubeconfig_is_the_administrator(sandbox) -> None:
    me = json.loads(sandbox.kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert me == {"username": "sandbox-admin", "groups": ["system:masters", "system:authenticated"]}
    assert sandbox.kubectl("auth", "can-i", "delete", "nodes").stdout == "yes\n"


def test_a_user_declared_with_the_sandbox_gets_a_kubeconfig(sandbox, tmp_path) -> None:
    carol = sandbox.sandbox.write_kubeconfig(tmp_path / "carol.kubeconfig", user="carol")
    whoami = as_user(sandbox, carol, "auth", "whoami").stdout.splitlines()
    assert whoami[1].split() == ["Username", "carol"]
    assert as_user(sandbox, carol, "auth", "can-i", "get", "pods").stdout == "no\n"


def test_a_users_kubeconfig_is_that_user_over_tls(sandbox, alice) -> None:
    cluster = yaml.safe_load(alice.read_text())["clusters"][0]["cluster"]
    assert cluster["server"].startswith("https://127.0.0.1:")
    assert base64.b64decode(cluster["certificate-authority-data"]).startswith(b"-----BEGIN CERTIFICATE-----")
    whoami = as_user(sandbox, alice, "auth", "whoami").stdout.splitlines()
    assert whoami[1].split() == ["Username", "alice"]
    assert whoami[-1].split(None, 1) == ["Groups", "[sre system:authenticated]"]


def test_a_bad_token_is_401_with_the_real_status(sandbox, alice) -> None:
    forged = alice.with_name("forged.kubeconfig")
    config = yaml.safe_load(alice.read_text())
    config["users"][0]["user"]["token"] = "not-a-token"
    forged.write_text(yaml.safe_dump(config))
    result = as_user(sandbox, forged, "get", "pods")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
    )

    response = requests.get(
        f"{sandbox.url}/healthz", headers={"Authorization": "Bearer not-a-token"}, timeout=5
    )
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_anonymous_requests_on_the_tls_port_see_only_public_information(sandbox, alice, tmp_path) -> None:
    ca = tmp_path / "ca.crt"
    cluster = yaml.safe_load(alice.read_text())["clusters"][0]["cluster"]
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    secure = sandbox.sandbox.secure_url
    assert requests.get(f"{secure}/version", verify=str(ca), timeout=5).json()["gitVersion"]
    listed = requests.get(f"{secure}/api/v1/namespaces/default/pods", verify=str(ca), timeout=5)
    assert listed.status_code == 403
    assert listed.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
        'in the namespace "default"',
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }


def test_rbac_grants_exactly_its_verbs_resources_names_and_namespaces(sandbox, alice) -> None:
    patched = as_user(sandbox, alice, "patch", "deployment", "web", "-p", '{"spec":{"replicas":2}}')
    assert patched.stdout == "deployment.apps/web patched\n"
    assert sandbox.get("deployments", "default", "web")["spec"]["replicas"] == 2

    def refused(*args: str) -> str:
        result = as_user(sandbox, alice, *args)
        assert result.returncode == 1
        return result.stderr

    assert refused("delete", "deployment", "web") == (
        'Error from server (Forbidden): deployments.apps "web" is forbidden: User "alice" cannot delete '
        'resource "deployments" in API group "apps" in the namespace "default": '
        'RBAC: role.rbac.authorization.k8s.io "ghost" not found\n'
    )
    assert refused("get", "deployments") == (
        'Error from server (Forbidden): deployments.apps is forbidden: User "alice" cannot list resource '
        '"deployments" in API group "apps" in the namespace "default": '
        'RBAC: role.rbac.authorization.k8s.io "ghost" not found\n'
    )
    assert 'cannot get resource "deployments" in API group "apps" in the namespace "kube-system"' in refused(
        "get", "deployment", "web", "-n", "kube-system"
    )
    assert refused("get", "nodes") == (
        'Error from server (Forbidden): nodes is forbidden: User "alice" cannot list resource "nodes" in API '
        'group "" at the cluster scope\n'
    )
    assert 'User "alice" cannot patch resource "deployments/status" in API group "apps"' in refused(
        "patch", "deployment", "web", "--subresource=status", "-p", '{"status":{"replicas":2}}'
    )


def test_a_service_account_subject_grants_the_subresource(sandbox, alice) -> None:
    robot = sandbox.kubeconfig_for("system:serviceaccount:default:robot")
    result = as_user(
        sandbox,
        robot,
        "auth",
        "can-i",
        "patch",
        "deployments",
        "--subresource=status",
        "-n",
        "payments",
    )
    assert result.stdout == "yes\n"
    assert as_user(sandbox, robot, "auth", "can-i", "patch", "deployments").stdout == "no\n"


def test_subject_access_reviews_answer_with_the_same_rules(sandbox, alice) -> None:
    def review(**spec: object) -> dict:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        created = sandbox.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(body)).stdout
        return json.loads(created)["status"]

    web = {"namespace": "default", "verb": "patch", "group": "apps", "resource": "deployments", "name": "web"}
    assert review(user="alice", resourceAttributes=web) == {
        "allowed": True,
        "reason": 'RBAC: allowed by RoleBinding "alice-patches-web/default" of Role "web-patcher" to User "alice"',
    }
    assert review(user="alice", resourceAttributes={**web, "name": "api"}) == {"allowed": False}
    assert review(user="mallory", groups=["sre"], resourceAttributes=web) == {
        "allowed": False,
        "reason": 'RBAC: role.rbac.authorization.k8s.io "ghost" not found',
    }
    assert review(user="bob", groups=["system:masters"], resourceAttributes=web) == {"allowed": True}
    assert review(user="bob", nonResourceAttributes={"path": "/metrics", "verb": "get"}) == {"allowed": False}

    invalid = sandbox.kubectl(
        "create",
        "-f",
        "-",
        input=json.dumps(
            {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {}}
        ),
        check=False,
    )
    assert invalid.returncode == 1
    assert 'The SubjectAccessReview "" is invalid' in invalid.stderr
    assert (
        'spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or '
        "resourceAttributes must be specified" in invalid.stderr
    )
    assert 'spec.user: Invalid value: "": at least one of user or group must be specified' in invalid.stderr


def test_only_who_may_create_subject_access_reviews_can_ask_about_others(sandbox, alice) -> None:
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": "bob", "nonResourceAttributes": {"path": "/healthz", "verb": "get"}},
    }
    result = as_user(sandbox, alice, "create", "-f", "-", stdin=json.dumps(body))
    assert result.returncode == 1
    assert result.stderr.startswith(
        'Error from server (Forbidden): error when creating "STDIN": subjectaccessreviews.authorization.k8s.io '
        'is forbidden: User "alice" cannot create resource "subjectaccessreviews" in API group '
        '"authorization.k8s.io" at the cluster scope'
    )


def test_the_reviews_are_discovered_and_create_only(sandbox) -> None:
    listed = sandbox.kubectl("api-resources", "--api-group=authorization.k8s.io", "-o", "wide").stdout
    rows = {line.split()[0]: line.split() for line in listed.splitlines()[1:]}
    assert set(rows) == {"selfsubjectaccessreviews", "subjectaccessreviews"}
    assert rows["subjectaccessreviews"][-1] == "create"
    got = sandbox.kubectl("get", "subjectaccessreviews", check=False)
    assert got.returncode == 1
    assert "(MethodNotAllowed)" in got.stderr
