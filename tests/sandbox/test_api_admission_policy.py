"""ValidatingAdmissionPolicy and its bindings, enforced on create, update and patch through kubectl.

Policies are CEL over ``object``, ``oldObject`` and ``request.userInfo``; a Deny binding turns a
failed validation into the API server's own error, which kubectl prints as it would for a cluster.
"""

from __future__ import annotations

import json

import pytest
import yaml

pytestmark = pytest.mark.kubectl

ADMISSION = "admissionregistration.k8s.io/v1"


def policy(name: str, validations: list[dict], **spec: object) -> dict:
    return {
        "apiVersion": ADMISSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["configmaps"],
                    }
                ]
            },
            "validations": validations,
            **spec,
        },
    }


def binding(name: str, policy_name: str, actions: tuple[str, ...] = ("Deny",), **spec: object) -> dict:
    return {
        "apiVersion": ADMISSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": policy_name, "validationActions": list(actions), **spec},
    }


def install(sandbox, *objects: dict) -> None:
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def configmap(name: str, namespace: str = "default", **data: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": data,
        }
    )


def create(sandbox, body: str, *flags: str):
    return sandbox.kubectl("create", "-f", "-", *flags, input=body, check=False)


def test_a_failed_validation_is_denied_with_the_api_servers_message(sandbox) -> None:
    install(
        sandbox,
        policy("owned", [{"expression": "has(object.metadata.labels) && 'owner' in object.metadata.labels"}]),
        binding("owned-everywhere", "owned"),
    )
    denied = create(sandbox, configmap("settings"))
    assert denied.returncode == 1
    assert denied.stderr == (
        "The configmaps \"settings\" is invalid: : ValidatingAdmissionPolicy 'owned' with binding "
        "'owned-everywhere' denied request: failed expression: has(object.metadata.labels) && 'owner' in "
        "object.metadata.labels\n"
    )
    assert create(sandbox, configmap("settings"), "--dry-run=server").returncode == 1
    owned = json.loads(configmap("settings"))
    owned["metadata"]["labels"] = {"owner": "payments"}
    assert create(sandbox, json.dumps(owned)).stdout == "configmap/settings created\n"
    assert user_configmaps(sandbox) == ["settings"]


def user_configmaps(sandbox) -> list[str]:
    """The ConfigMaps of `default` but kube-root-ca.crt, which the cluster publishes in every namespace."""
    return [
        c["metadata"]["name"]
        for c in sandbox.list("configmaps", "default")
        if c["metadata"]["name"] != "kube-root-ca.crt"
    ]


def test_a_transition_rule_sees_the_old_object_and_the_requester(sandbox) -> None:
    frozen = {
        "expression": "oldObject == null || object.data.mode == oldObject.data.mode",
        "messageExpression": "'data.mode is frozen; ' + request.userInfo.username + ' tried ' + object.data.mode",
        "reason": "Forbidden",
    }
    install(sandbox, policy("frozen-mode", [frozen]), binding("frozen-mode", "frozen-mode"))
    assert create(sandbox, configmap("feature", mode="a")).returncode == 0
    changed = sandbox.kubectl("patch", "configmap", "feature", "-p", '{"data":{"mode":"b"}}', check=False)
    assert changed.stderr == (
        'Error from server (Forbidden): configmaps "feature" is forbidden: ValidatingAdmissionPolicy '
        "'frozen-mode' with binding 'frozen-mode' denied request: data.mode is frozen; sandbox-admin tried b\n"
    )
    assert sandbox.get("configmaps", "default", "feature")["data"] == {"mode": "a"}
    labelled = sandbox.kubectl("label", "configmap", "feature", "team=payments")
    assert labelled.stdout == "configmap/feature labeled\n"


def test_the_requesters_groups_decide(sandbox) -> None:
    sandbox.kubectl(
        "create", "clusterrole", "configmap-writer", "--verb=create,get,list", "--resource=configmaps"
    )
    sandbox.kubectl(
        "create",
        "clusterrolebinding",
        "everyone-writes-configmaps",
        "--clusterrole=configmap-writer",
        "--group=system:authenticated",
    )
    only_sre = {
        "expression": "'sre' in request.userInfo.groups",
        "message": "only the sre group may write configmaps",
    }
    install(sandbox, policy("sre-only", [only_sre]), binding("sre-only", "sre-only"))
    alice = sandbox.kubeconfig_for("alice", ["sre"])
    bob = sandbox.kubeconfig_for("bob", ["dev"])
    as_alice = sandbox.kubectl(
        "--kubeconfig", str(alice), "create", "-f", "-", input=configmap("a"), check=False
    )
    assert as_alice.stdout == "configmap/a created\n"
    as_bob = sandbox.kubectl("--kubeconfig", str(bob), "create", "-f", "-", input=configmap("b"), check=False)
    assert as_bob.returncode == 1
    assert (
        "ValidatingAdmissionPolicy 'sre-only' with binding 'sre-only' denied request: only the sre group"
        in (as_bob.stderr)
    )


def test_a_binding_applies_only_where_its_selectors_match(sandbox) -> None:
    sandbox.kubectl("create", "namespace", "prod")
    sandbox.kubectl("label", "namespace", "prod", "env=prod")
    install(
        sandbox,
        policy("small", [{"expression": "size(object.data) <= 1", "message": "one key at most"}]),
        binding(
            "small-in-prod", "small", matchResources={"namespaceSelector": {"matchLabels": {"env": "prod"}}}
        ),
        binding("small-audited", "small", actions=("Audit",)),
    )
    assert create(sandbox, configmap("two", a="1", b="2")).returncode == 0
    in_prod = create(sandbox, configmap("two", "prod", a="1", b="2"))
    assert in_prod.returncode == 1
    assert "binding 'small-in-prod' denied request: one key at most" in in_prod.stderr


def test_an_expression_that_cannot_be_evaluated_follows_the_failure_policy(sandbox) -> None:
    missing = [{"expression": "object.data.region == 'eu'"}]
    install(sandbox, policy("region", missing), binding("region", "region"))
    failed = create(sandbox, configmap("nowhere", zone="a"))
    assert failed.returncode == 1
    assert (
        "ValidatingAdmissionPolicy 'region' with binding 'region' denied request: expression "
        "'object.data.region == 'eu'' resulted in error:" in failed.stderr
    )
    install(sandbox, policy("region", missing, failurePolicy="Ignore"))
    assert create(sandbox, configmap("nowhere", zone="a")).returncode == 0


def test_match_conditions_and_variables_narrow_a_policy(sandbox) -> None:
    gold = policy(
        "gold-needs-sla",
        [{"expression": "'sla' in object.data", "message": "gold needs an sla"}],
        variables=[
            {
                "name": "tiered",
                "expression": "has(object.metadata.labels) && 'tier' in object.metadata.labels",
            }
        ],
        matchConditions=[
            {"name": "only-gold", "expression": "variables.tiered && object.metadata.labels.tier == 'gold'"}
        ],
    )
    install(sandbox, gold, binding("gold-needs-sla", "gold-needs-sla"))
    assert create(sandbox, configmap("plain")).returncode == 0
    labelled = json.loads(configmap("premium"))
    labelled["metadata"]["labels"] = {"tier": "gold"}
    denied = create(sandbox, json.dumps(labelled))
    assert "denied request: gold needs an sla" in denied.stderr


def test_bad_policies_and_bindings_are_refused_with_field_causes(sandbox) -> None:
    bad_policy = policy(
        "broken", [{"expression": "object.data.x ==", "reason": "Teapot"}], failurePolicy="Maybe"
    )
    result = sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad_policy), check=False)
    assert result.returncode == 1
    assert 'The ValidatingAdmissionPolicy "broken" is invalid' in result.stderr
    assert (
        'spec.failurePolicy: Unsupported value: "Maybe": supported values: "Fail", "Ignore"' in result.stderr
    )
    assert (
        'spec.validations[0].expression: Invalid value: "object.data.x ==": compilation failed'
        in result.stderr
    )
    assert 'spec.validations[0].reason: Unsupported value: "Teapot"' in result.stderr

    bad_binding = binding("broken", "", actions=("Deny", "Warn", "Block"))
    result = sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad_binding), check=False)
    assert result.returncode == 1
    assert "spec.policyName: Required value" in result.stderr
    assert (
        'spec.validationActions[2]: Unsupported value: "Block": supported values: "Audit", "Deny", "Warn"'
        in (result.stderr)
    )
    assert "must not contain both Deny and Warn" in result.stderr
    assert not sandbox.list("validatingadmissionpolicies")


def test_the_sandboxs_in_process_writers_are_not_judged(sandbox) -> None:
    install(sandbox, policy("never", [{"expression": "false"}]), binding("never", "never"))
    assert create(sandbox, configmap("by-kubectl")).returncode == 1
    sandbox.apply([json.loads(configmap("by-the-scenario-loader"))])
    assert user_configmaps(sandbox) == ["by-the-scenario-loader"]
