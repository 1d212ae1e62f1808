"""RBAC, NetworkPolicy, PodDisruptionBudget and StorageClass: stored (never enforced), validated and
printed as a real API server does, through the real kubectl."""

import json

import pytest

pytestmark = pytest.mark.kubectl

RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:reader"
rules:
  - apiGroups: [""]
    resources: [pods, pods/log]
    verbs: [get, list, watch]
  - nonResourceURLs: [/healthz]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: reader
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:reader"}
subjects:
  - {kind: ServiceAccount, name: robot, namespace: default}
  - {kind: User, name: alice}
  - {kind: Group, name: sre}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: editor
rules:
  - apiGroups: [apps]
    resources: [deployments]
    verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: editor
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: editor}
subjects:
  - {kind: ServiceAccount, name: robot}
"""

NETWORK_POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api
spec:
  podSelector:
    matchLabels: {app: api}
  ingress:
    - from:
        - podSelector: {matchLabels: {role: frontend}}
      ports:
        - port: 8080
  egress:
    - to:
        - ipBlock: {cidr: 10.0.0.0/8}
"""


def rows(sandbox, *args: str) -> list[list[str]]:
    lines = sandbox.kubectl("get", *args).stdout.splitlines()
    return [line.split() for line in lines]


def test_rbac_objects_apply_and_print_like_a_real_cluster(sandbox) -> None:
    applied = sandbox.kubectl("apply", "-f", "-", input=RBAC).stdout
    assert "clusterrole.rbac.authorization.k8s.io/system:reader created" in applied
    assert "clusterrolebinding.rbac.authorization.k8s.io/reader created" in applied
    assert "role.rbac.authorization.k8s.io/editor created" in applied
    assert "rolebinding.rbac.authorization.k8s.io/editor created" in applied

    roles = rows(sandbox, "clusterroles")
    assert roles[0] == ["NAME", "CREATED", "AT"]
    assert roles[1][0] == "system:reader"
    assert roles[1][1].endswith("Z")  # CREATED AT is a timestamp, not an age
    bindings = rows(sandbox, "clusterrolebindings")
    assert bindings[0] == ["NAME", "ROLE", "AGE"]
    assert bindings[1][:2] == ["reader", "ClusterRole/system:reader"]
    wide = sandbox.kubectl("get", "clusterrolebinding", "reader", "-o", "wide").stdout
    header, reader = wide.splitlines()
    assert header.split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert reader.split()[-3:] == ["alice", "sre", "default/robot"]
    assert rows(sandbox, "rolebindings")[1][:2] == ["editor", "Role/editor"]

    # Reapplying unchanged manifests is a no-op, as kubectl's three-way patch sees it.
    again = sandbox.kubectl("apply", "-f", "-", input=RBAC).stdout
    assert "clusterrole.rbac.authorization.k8s.io/system:reader unchanged" in again

    described = sandbox.kubectl("describe", "clusterrole", "system:reader").stdout
    assert "pods/log" in described
    assert "[/healthz]" in described
    binding = sandbox.kubectl("describe", "rolebinding", "editor").stdout
    assert "Role:\n  Kind:  Role\n  Name:  editor" in binding
    assert "ServiceAccount  robot" in binding

    stored = sandbox.get("clusterrolebindings", None, "reader")
    assert [s.get("apiGroup") for s in stored["subjects"]] == [
        None,
        "rbac.authorization.k8s.io",
        "rbac.authorization.k8s.io",
    ]


def test_bad_rbac_objects_are_refused_with_field_causes(sandbox) -> None:
    bad_role = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: broken}
rules:
  - resources: [pods]
  - nonResourceURLs: [/metrics]
    verbs: [get]
"""
    result = sandbox.kubectl("apply", "-f", "-", input=bad_role, check=False)
    assert result.returncode == 1
    assert 'The Role "broken" is invalid' in result.stderr
    assert "rules[0].verbs: Required value: verbs must contain at least one value" in result.stderr
    assert "rules[0].apiGroups: Required value" in result.stderr
    assert "rules[1].nonResourceURLs: Invalid value" in result.stderr
    assert "namespaced rules cannot apply to non-resource URLs" in result.stderr

    bad_binding = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: broken}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: editor}
subjects:
  - {kind: ServiceAccount, name: robot}
"""
    result = sandbox.kubectl("apply", "-f", "-", input=bad_binding, check=False)
    assert result.returncode == 1
    assert 'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"' in result.stderr
    assert "subjects[0].namespace: Required value" in result.stderr
    assert not sandbox.list("clusterrolebindings")


def test_a_binding_cannot_change_its_role(sandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=RBAC)
    changed = RBAC.replace("kind: Role, name: editor}", "kind: ClusterRole, name: editor}")
    result = sandbox.kubectl("apply", "-f", "-", input=changed, check=False)
    assert result.returncode == 1
    assert "roleRef: Invalid value" in result.stderr
    assert "cannot change roleRef" in result.stderr
    assert sandbox.get("rolebindings", "default", "editor")["roleRef"]["kind"] == "Role"


def test_network_policy_is_stored_with_defaults_and_printed(sandbox) -> None:
    applied = sandbox.kubectl("apply", "-f", "-", input=NETWORK_POLICY).stdout
    assert "networkpolicy.networking.k8s.io/api created" in applied
    table = rows(sandbox, "netpol")
    assert table[0] == ["NAME", "POD-SELECTOR", "AGE"]
    assert table[1][:2] == ["api", "app=api"]
    stored = sandbox.get("networkpolicies", "default", "api")
    assert stored["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert stored["spec"]["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    described = sandbox.kubectl("describe", "networkpolicy", "api").stdout
    assert "PodSelector:     app=api" in described
    assert "Policy Types: Ingress, Egress" in described

    both = NETWORK_POLICY.replace(
        "ipBlock: {cidr: 10.0.0.0/8}", "{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}"
    )
    result = sandbox.kubectl("apply", "-f", "-", input=both.replace("name: api", "name: both"), check=False)
    assert result.returncode == 1
    assert "spec.egress[0].to[0]: Forbidden: may not specify both ipBlock and another peer" in result.stderr


def test_discovery_serves_the_new_groups(sandbox) -> None:
    groups = json.loads(sandbox.kubectl("get", "--raw", "/apis").stdout)
    names = {g["name"]: g["preferredVersion"]["version"] for g in groups["groups"]}
    for group in ("rbac.authorization.k8s.io", "networking.k8s.io", "policy", "storage.k8s.io"):
        assert names[group] == "v1"
    resources = sandbox.kubectl("api-resources", "--api-group=rbac.authorization.k8s.io").stdout
    assert {line.split()[0] for line in resources.splitlines()[1:]} == {
        "clusterrolebindings",
        "clusterroles",
        "rolebindings",
        "roles",
    }


def test_the_default_storage_class_exists_from_the_start(sandbox) -> None:
    table = rows(sandbox, "storageclass")
    assert table[0] == [
        "NAME",
        "PROVISIONER",
        "RECLAIMPOLICY",
        "VOLUMEBINDINGMODE",
        "ALLOWVOLUMEEXPANSION",
        "AGE",
    ]
    assert table[1][:6] == ["standard", "(default)", "rancher.io/local-path", "Delete", "Immediate", "false"]

    fast = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\nprovisioner: example.com/ssd\n"
    sandbox.kubectl("apply", "-f", "-", input=fast)
    changed = sandbox.kubectl(
        "apply", "-f", "-", input=fast.replace("example.com/ssd", "example.com/hdd"), check=False
    )
    assert changed.returncode == 1
    assert "provisioner: Forbidden: updates to provisioner are forbidden." in changed.stderr


def test_pod_disruption_budget_prints_its_budget(sandbox) -> None:
    pdb = """
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: api}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: api}}
"""
    sandbox.kubectl("apply", "-f", "-", input=pdb)
    assert rows(sandbox, "pdb")[0] == [
        "NAME",
        "MIN",
        "AVAILABLE",
        "MAX",
        "UNAVAILABLE",
        "ALLOWED",
        "DISRUPTIONS",
        "AGE",
    ]
    assert rows(sandbox, "pdb")[1][:4] == ["api", "1", "N/A", "0"]
    both = pdb.replace("minAvailable: 1", "minAvailable: 1\n  maxUnavailable: 50%").replace(
        "name: api}", "name: b}"
    )
    result = sandbox.kubectl("apply", "-f", "-", input=both, check=False)
    assert result.returncode == 1
    assert "minAvailable and maxUnavailable cannot be both set" in result.stderr


def test_kubectl_create_builds_roles_and_bindings(sandbox) -> None:
    """`kubectl create role|clusterrolebinding|pdb` send protobuf bodies; they read back as sent."""
    sandbox.kubectl("create", "role", "reader", "--verb=get,list", "--resource=pods,deployments.apps")
    sandbox.kubectl("create", "rolebinding", "reader", "--role=reader", "--serviceaccount=default:robot")
    sandbox.kubectl("create", "clusterrolebinding", "admins", "--clusterrole=admin", "--group=sre")
    sandbox.kubectl("create", "pdb", "api", "--selector=app=api", "--max-unavailable=25%")

    role = sandbox.get("roles", "default", "reader")
    assert role["rules"] == [
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]},
        {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["deployments"]},
    ]
    binding = sandbox.get("rolebindings", "default", "reader")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]
    assert rows(sandbox, "clusterrolebinding", "admins")[1][:2] == ["admins", "ClusterRole/admin"]
    assert rows(sandbox, "pdb", "api")[1][:4] == ["api", "N/A", "25%", "0"]
