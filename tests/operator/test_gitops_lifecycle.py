"""The lifecycle and a workload Argo CD, Flux or Helm deploys: the analysis says so on the report, and
an approved fix is refused live under the default policy.

The analysis runs as in test_analysis.py, the approval against the dict-backed API server of
test_approval_apply.py (Deployment `web` in namespace `default`, its failing pod through ReplicaSet
`web-7d9c`, a sealed suggestion raising its memory request). The approver reads the marks from the live
Deployment only, never from the report: its `status.managedBy` may have been rewritten by anyone who
can write the status.
"""

from __future__ import annotations

from typing import Any

import pytest

from smart_sre.api.diagnosticreport import ObservedReport
from smart_sre.k8s.cluster import ClusterError
from smart_sre.lifecycle.analysis import Analyst
from smart_sre.lifecycle.approval import SealKey
from smart_sre.lifecycle.concurrency import AnalysisSlots
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import ActivePolicy, PolicyBook

from . import test_approval_apply
from .pods import pod
from .test_analysis import NOW, PATCH, FakeInvestigator, FakeWriter, posted_events, report_for, result
from .test_approval_apply import FakeApi, api, decide, rollback_approved, status_of
from .test_approval_checks import NAME, approve, report

TRACKING_ID = "argocd.argoproj.io/tracking-id"
# The same fakes as there: the kopf events posted, and SubjectAccessReviews that allow (autouse).
events = test_approval_apply.events
reviews = test_approval_apply.reviews


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


class MarkedCluster(FakeWriter):
    """The analysis' API server, with the patch target `web` (a Deployment) carrying `marks`, or failing."""

    def __init__(self, *, failure: ClusterError | None = None, **marks: dict[str, str]) -> None:
        self.failing = pod(waiting="CrashLoopBackOff")
        super().__init__(self.failing, report_for(self.failing))
        self.deployment = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "default", **marks}}
        self.failure = failure

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind == "Deployment" and self.failure is not None:
            raise self.failure
        return (
            self.deployment
            if (kind, name) == ("Deployment", "web")
            else await super().get(kind, namespace, name)
        )


async def analysed(
    cluster: MarkedCluster, monkeypatch: pytest.MonkeyPatch, *, under: ActivePolicy
) -> dict[str, Any]:
    """The report's status after one analysis that suggests PATCH (to Deployment web)."""
    posted_events(monkeypatch)
    analyst = Analyst(
        cluster,  # type: ignore[arg-type]
        Metrics(),
        AnalysisSlots(1),
        FakeInvestigator(result(patch=True)),
        lambda: NOW,
        seal_key=SealKey(b"k" * 32),
    )
    await analyst.run(ObservedReport.model_validate(cluster.report), under)
    return cluster.report["status"]


async def test_the_report_says_who_deploys_the_target_and_what_that_means(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status = await analysed(MarkedCluster(**ARGO), monkeypatch, under=policy("Suggest"))
    assert status["phase"] == "AwaitingApproval"
    assert status["suggestedPatch"]["target"] == PATCH["target"]
    managed = status["managedBy"]
    assert {key: managed[key] for key in ("tool", "kind", "name", "certain")} == {
        "tool": "ArgoCD",
        "kind": "Application",
        "name": "shop",
        "certain": True,
    }
    assert managed["note"].startswith(
        f"Managed by Argo CD Application shop (annotation {TRACKING_ID} on Deployment web): Argo CD shows a "
        "live change as drift (OutOfSync)"
    )
    assert (
        "smart-sre does not apply the fix live (policy seed: remediation.gitOpsManaged Suggest)"
        in managed["note"]
    )


async def test_an_unmarked_or_unreadable_target_leaves_the_report_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for cluster in (MarkedCluster(), MarkedCluster(failure=ClusterError(503, "etcd leader changed"))):
        status = await analysed(cluster, monkeypatch, under=policy("Suggest"))
        assert status["phase"] == "AwaitingApproval"
        assert "managedBy" not in status
