"""The approver is an authenticated human, and no confused deputy: the real kubectl as two users.

With deploy/base/approval-admission-policy.yaml installed, the API server admits a decision on a
DiagnosticReport only in the name of the user who makes it; the operator's `may_patch` then asks the
API server whether that user may patch the target. alice and mallory are both on call (the product's
smart-sre-approver ClusterRole, bound to their group) and may read workloads; only alice may patch
the ledger Deployment.
The first tests write the report as the administrator, standing in for the operator, with a patch
vetted by the agent's real safety checks; the last ones run the real operator on a report it sealed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from smart_sre.api.diagnosticreport import PatchTarget
from smart_sre.k8s.access import Access, may_patch
from smart_sre.k8s.cluster import Cluster

from . import scenario
from .reading import condition, report_now
from .seeding import create_ledger_report, open_and_seed, vetted_memory_patch

pytestmark = [pytest.mark.e2e, pytest.mark.kubectl]

POLICY = scenario.REPO / "deploy" / "base" / "approval-admission-policy.yaml"
APPROVER_ROLE = scenario.REPO / "deploy" / "rbac" / "approver.yaml"
REPORT = "ledger-pending"
DENIED = (
    f'Error from server (Forbidden): diagnosticreports.smartsre.io "{REPORT}" is forbidden: '
    "ValidatingAdmissionPolicy 'smart-sre-approver-identity' with binding 'smart-sre-approver-identity' "
    "denied request: "
)


@dataclass(frozen=True)
class OnCall:
    """The kubeconfigs of the two on-call approvers."""

    alice: Path
    mallory: Path


@dataclass(frozen=True)
class Scene:
    alice: Path
    mallory: Path
    sha256: str
    target: PatchTarget


@pytest.fixture
def on_call(sandbox) -> OnCall:
    """The approval admission policy; alice and mallory on call, only alice may patch Deployment ledger."""
    sandbox.kubectl("apply", "-f", str(POLICY))
    sandbox.kubectl("apply", "-f", str(APPROVER_ROLE))
    sandbox.kubectl(
        "create",
        "clusterrolebinding",
        "oncall-approvers",
        "--clusterrole=smart-sre-approver",
        "--group=sre-oncall",
    )
    # On call means reading workloads too (`kubectl sre show` diffs the patch against its target).
    sandbox.kubectl(
        "create", "clusterrole", "workload-viewer", "--verb=get,list,watch", "--resource=deployments.apps"
    )
    sandbox.kubectl(
        "create",
        "clusterrolebinding",
        "oncall-viewers",
        "--clusterrole=workload-viewer",
        "--group=sre-oncall",
    )
    sandbox.kubectl(
        "create",
        "role",
        "ledger-patcher",
        "--verb=get,patch",
        "--resource=deployments.apps",
        "--resource-name=ledger",
    )
    sandbox.kubectl("create", "rolebinding", "alice-patches-ledger", "--role=ledger-patcher", "--user=alice")
    return OnCall(
        alice=sandbox.kubeconfig_for("alice", ["sre-oncall"]),
        mallory=sandbox.kubeconfig_for("mallory", ["sre-oncall"]),
    )


@pytest.fixture
def scene(sandbox, on_call) -> Scene:
    pod = create_ledger_report(sandbox, REPORT)
    suggested = vetted_memory_patch(str(sandbox.kubeconfig), pod, "256Mi")["suggestedPatch"]
    return Scene(
        alice=on_call.alice,
        mallory=on_call.mallory,
        sha256=suggested["sha256"],
        target=PatchTarget.model_validate(suggested["target"]),
    )


def as_user(sandbox, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sandbox.kubectl("--kubeconfig", str(kubeconfig), *args, check=False)


def whoami(sandbox, kubeconfig: Path) -> dict:
    """What `kubectl auth whoami` says: the name and groups a decision may carry."""
    review = json.loads(as_user(sandbox, kubeconfig, "auth", "whoami", "-o", "json").stdout)
    return review["status"]["userInfo"]


def decide(
    sandbox, kubeconfig: Path, approval: dict, report: str = REPORT
) -> subprocess.CompletedProcess[str]:
    body = json.dumps({"spec": {"approval": approval}})
    return as_user(sandbox, kubeconfig, "patch", "dr", report, "--type", "merge", "-p", body)


def approve_as_self(sandbox, kubeconfig: Path, sha256: str, report: str = REPORT) -> dict:
    """Approve in one's own name and groups, as `kubectl sre approve` would."""
    me = whoami(sandbox, kubeconfig)
    approval = {
        "decision": "Approved",
        "patchSHA256": sha256,
        "approvedBy": me["username"],
        "approverGroups": me["groups"],
    }
    done = decide(sandbox, kubeconfig, approval, report)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"diagnosticreport.smartsre.io/{report} patched\n"
    return approval


def access_of(sandbox, approval: dict, target: PatchTarget) -> Access:
    """The operator's check, through its own client, of the approver the API server admitted."""

    async def ask() -> Access:
        cluster = Cluster.from_config(str(sandbox.kubeconfig))
        try:
            return await may_patch(
                cluster, user=approval["approvedBy"], groups=approval["approverGroups"], target=target
            )
        finally:
            cluster.close()

    return asyncio.run(ask())


def test_nobody_can_decide_in_another_users_name_or_groups(sandbox, scene) -> None:
    forged = {"decision": "Approved", "patchSHA256": scene.sha256, "approvedBy": "alice"}
    refused = decide(sandbox, scene.mallory, forged)
    assert refused.returncode == 1
    assert (
        refused.stderr
        == DENIED + 'spec.approval.approvedBy must name the user making the decision, "mallory"\n'
    )

    unnamed = decide(sandbox, scene.mallory, {"decision": "Rejected"})
    assert unnamed.stderr.startswith(DENIED + "spec.approval.approvedBy must name the user")

    borrowed = {**forged, "approvedBy": "mallory", "approverGroups": ["sre-oncall", "system:masters"]}
    refused = decide(sandbox, scene.mallory, borrowed)
    assert refused.stderr == DENIED + "spec.approval.approverGroups may name only groups the approver is in\n"

    # Not even the administrator can sign for alice.
    admin = sandbox.kubectl(
        "patch",
        "dr",
        REPORT,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"approval": forged}}),
        check=False,
    )
    assert (
        admin.stderr
        == DENIED + 'spec.approval.approvedBy must name the user making the decision, "sandbox-admin"\n'
    )
    assert "approval" not in report_now(sandbox, REPORT)["spec"]


def test_mallory_may_approve_as_herself_but_may_not_make_the_change(sandbox, scene) -> None:
    approval = approve_as_self(sandbox, scene.mallory, scene.sha256)
    assert report_now(sandbox, REPORT)["spec"]["approval"]["approvedBy"] == "mallory"

    # The operator's own writes leave the decision as it was and are not judged.
    sandbox.kubectl("label", "dr", REPORT, "smartsre.io/reviewed=true")

    direct = as_user(
        sandbox, scene.mallory, "patch", "deployment", "ledger", "-p", '{"spec":{"paused":true}}'
    )
    assert direct.stderr == (
        'Error from server (Forbidden): deployments.apps "ledger" is forbidden: User "mallory" cannot patch '
        'resource "deployments" in API group "apps" in the namespace "default"\n'
    )
    access = access_of(sandbox, approval, scene.target)
    assert access == Access(
        False,
        'User "mallory" cannot patch resource "deployments" in API group "apps" in the namespace "default"',
    )


def test_alice_may_approve_and_may_make_the_change(sandbox, scene) -> None:
    approval = approve_as_self(sandbox, scene.alice, scene.sha256)
    assert approval["approverGroups"] == ["sre-oncall", "system:authenticated"]
    assert as_user(sandbox, scene.alice, "auth", "can-i", "patch", "deployment/ledger").stdout == "yes\n"
    access = access_of(sandbox, approval, scene.target)
    assert access == Access(
        True,
        'RBAC: allowed by RoleBinding "alice-patches-ledger/default" of Role "ledger-patcher" to User "alice"',
    )


def memory_of_ledger(sandbox) -> str:
    body = sandbox.get("deployments", "default", "ledger")
    return body["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"]


@pytest.fixture
def sealed(sandbox, operator_process, on_call) -> dict:
    """A report the real operator opened for the unschedulable ledger, AwaitingApproval, sealed."""
    policy = scenario.policy(triggers=["Pending"], pendingGracePeriod="1s")
    return open_and_seed(sandbox, operator_process, [policy, scenario.memory_hungry()])


def approve_sealed(sandbox, kubeconfig: Path, report: dict) -> str:
    """Approve the operator's suggestion in one's own name; the report's name."""
    name = report["metadata"]["name"]
    approve_as_self(sandbox, kubeconfig, report["status"]["suggestedPatch"]["sha256"], name)
    return name


@pytest.mark.slow
def test_the_operator_applies_nothing_for_mallory_who_may_not_patch_the_deployment(
    sandbox, on_call, sealed
) -> None:
    name = approve_sealed(sandbox, on_call.mallory, sealed)
    refused = sandbox.wait_for(
        lambda: (
            (c := condition(report_now(sandbox, name), "ApprovalRefused")) and c["status"] == "True" and c
        ),
        timeout=30,
    )
    assert refused["reason"] == "ApproverNotAllowed"
    assert refused["message"].startswith(
        "mallory approved, but may not patch Deployment default/ledger themselves "
        '(User "mallory" cannot patch resource "deployments" in API group "apps" in the namespace "default")'
    )
    assert report_now(sandbox, name)["status"]["phase"] == "AwaitingApproval"  # alice may still approve
    assert memory_of_ledger(sandbox) == "64Gi"


@pytest.mark.slow
def test_the_operator_applies_what_alice_who_may_patch_the_deployment_approved(
    sandbox, on_call, sealed
) -> None:
    name = approve_sealed(sandbox, on_call.alice, sealed)
    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Applied", timeout=30)
    assert memory_of_ledger(sandbox) == "256Mi"
    report = report_now(sandbox, name)
    assert report["status"]["approvedBy"] == "alice"
    assert condition(report, "PatchApplied")["status"] == "True"
