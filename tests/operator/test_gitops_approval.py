"""An approved fix to a workload Argo CD, Flux or Helm deploys: refused live under the default policy.

`Approver.handle` against the dict-backed API server of test_approval_apply.py: Deployment `web` in
namespace `default`, its failing pod through ReplicaSet `web-7d9c`, and a sealed suggestion raising its
memory request. The marks are put on the live Deployment only, never in the report: what the report's
status says (`managedBy`) may have been rewritten by anyone who can write it.
"""

from __future__ import annotations

from typing import Any

import pytest

from smart_sre.lifecycle.policies import ActivePolicy, PolicyBook

from .test_approval_apply import FakeApi, api, decide, rollback_approved, status_of
from .test_approval_checks import NAME, approve, report

TRACKING_ID = "argocd.argoproj.io/tracking-id"


def marked(
    fake: FakeApi, *, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
) -> FakeApi:
    """`fake` with its live Deployment carrying these labels and annotations."""
    (deployment,) = (o for o in fake.objects if o["kind"] == "Deployment")
    deployment["metadata"] |= {"labels": labels or {}, "annotations": annotations or {}}
    return fake


def policy(git_ops_managed: str) -> ActivePolicy:
    book = PolicyBook()
    remediation = {"gitOpsManaged": git_ops_managed}
    book.upsert(
        {
            "metadata": {"name": "seed", "generation": 2},
            "spec": {"rules": [{"namespaces": ["default"]}], "remediation": remediation},
        }
    )
    found = book.get("seed")
    assert found is not None
    return found


ARGO = {"annotations": {TRACKING_ID: "shop:apps/Deployment:default/web"}}
FLUX = {
    "labels": {
        "kustomize.toolkit.fluxcd.io/name": "apps",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }
}
HELM = {"annotations": {"meta.helm.sh/release-name": "web", "meta.helm.sh/release-namespace": "default"}}


@pytest.mark.parametrize(
    ("marks", "who"),
    [
        (ARGO, "Argo CD Application shop"),
        (FLUX, "Flux Kustomization flux-system/apps"),
        (HELM, "Helm release default/web"),
    ],
    ids=["argo-cd", "flux", "helm"],
)
async def test_a_live_apply_is_refused_and_the_message_says_to_commit_the_fix(
    events: list[str], marks: dict[str, Any], who: str
) -> None:
    fake = marked(api(report(approval=approve())), **marks)
    status = await decide(fake)
    assert status["phase"] == "AwaitingApproval"  # the report stays open: commit the fix, then reject it
    refused = status_of(status, "ApprovalRefused")
    assert (refused["status"], refused["reason"]) == ("True", "GitOpsManaged")
    assert refused["message"].startswith(f"{who} deploys Deployment default/web (")
    assert "nothing was applied" in refused["message"]
    assert (
        f"Commit the fix to Git instead: `kubectl sre show {NAME} --as-kustomize-patch`" in refused["message"]
    )
    assert "set the policy's spec.remediation.gitOpsManaged to Apply" in refused["message"]
    assert fake.memory() == "64Gi"
    assert fake.sent == []
    assert fake.dry_runs == 0
    assert events == ["ApprovalRefused"]


async def test_a_refusal_is_written_once_however_often_the_report_is_judged(events: list[str]) -> None:
    fake = marked(api(report(approval=approve())), **ARGO)
    await decide(fake)
    await decide(fake)
    assert events == ["ApprovalRefused"]


async def test_a_policy_that_allows_it_gets_the_fix_applied_live(events: list[str]) -> None:
    fake = marked(api(report(approval=approve())), **ARGO)
    status = await decide(fake, policy=policy("Apply"))
    assert status["phase"] == "Applied"
    assert fake.memory() == "256Mi"


async def test_a_label_charts_and_people_write_too_does_not_block_a_live_apply(events: list[str]) -> None:
    fake = marked(api(report(approval=approve())), labels={"app.kubernetes.io/instance": "web"})
    status = await decide(fake, policy=policy("Suggest"))
    assert status["phase"] == "Applied"
    assert fake.memory() == "256Mi"


async def test_a_rollback_of_a_fix_applied_live_is_not_refused(events: list[str]) -> None:
    fake = marked(api(rollback_approved(), memory="256Mi"), **ARGO)
    status = await decide(fake)
    assert status_of(status, "RolledBack")["status"] == "True"
    assert fake.memory() == "64Gi"


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    posted: list[str] = []
    for name in ("info", "warn"):
        monkeypatch.setattr(
            f"smart_sre.lifecycle.approval.kopf.{name}", lambda obj, *, reason, message: posted.append(reason)
        )
    return posted
