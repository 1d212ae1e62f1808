"""An approved fix to a StatefulSet whose only pod is stuck: the pod is replaced, not left stuck.

`session-store` (OrderedReady, RollingUpdate) names an image tag the registry does not serve, so its pod
is in ImagePullBackOff. Fixing the template alone would leave that pod as it is, as on a real cluster
(the controller waits for it to become Ready). The operator opens the report; the report is put in
AwaitingApproval with the vetted image fix while the operator is stopped (seeding.py); `kubectl sre show`
must say that approving also deletes the stuck pod; once approved, the operator applies the patch and
deletes the stuck pod, and the StatefulSet controller recreates it on the patched revision.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from smart_sre.api.debugpolicy import Remediation
from smart_sre.investigation.patch_safety import vet_patch
from smart_sre.k8s.cluster import Cluster
from smart_sre.k8s.owners import owner_chain

from . import scenario
from .reading import condition, report_now, reports
from .seeding import admin_approval, seed_awaiting_approval

pytestmark = [
    pytest.mark.usefixtures("kubectl_plugin"),
    pytest.mark.e2e,
    pytest.mark.kubectl,
    pytest.mark.slow,
]

IMAGE = "/spec/template/spec/containers/0/image"
LABELS = {"app": "critical-app", "component": "session-store"}


def session_store(image: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "session-store", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "serviceName": "session-store",
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "containers": [
                        {
                            "name": "redis",
                            "image": image,
                            "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}},
                        }
                    ]
                },
            },
        },
    }


def vetted_image_patch(kubeconfig: str, pod: dict, image: str) -> dict:
    """suggestedPatch and rollbackPatch for "run `image` instead", through the agent's safety checks."""

    async def vet() -> dict:
        cluster = Cluster.from_config(kubeconfig)
        try:
            chain = await owner_chain(cluster, pod)
            operations = [{"op": "replace", "path": IMAGE, "value": image}]
            safe = await vet_patch(cluster, chain, "StatefulSet/session-store", operations, Remediation())
        finally:
            cluster.close()
        dump = {"mode": "json", "by_alias": True, "exclude_none": True}
        return {
            "suggestedPatch": safe.suggested.model_dump(**dump),
            "rollbackPatch": safe.rollback.model_dump(**dump),
        }

    return asyncio.run(vet())


def running_on_update_revision(sandbox) -> dict | None:
    """session-store-0, once it runs the patched revision and is Ready."""
    revision = (sandbox.get("statefulsets", "default", "session-store").get("status") or {}).get(
        "updateRevision"
    )
    pods = sandbox.list("pods", "default", "component=session-store")
    return next(
        (
            pod
            for pod in pods
            if pod["metadata"]["labels"].get("controller-revision-hash") == revision
            and pod["status"].get("phase") == "Running"
            and any(
                c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or ()
            )
        ),
        None,
    )


def test_an_approved_fix_replaces_the_pod_the_statefulset_leaves_stuck(sandbox, operator_process):
    policy = scenario.policy(triggers=["ImagePullBackOff"])
    sandbox.apply([policy, session_store("redis:8.0-rc1")])
    operator_process.start().wait_alive()
    report = sandbox.wait_for(lambda: reports(sandbox), timeout=60)[0]
    operator_process.stop()
    name = report["metadata"]["name"]
    stuck = sandbox.get("pods", "default", report["spec"]["podRef"]["name"])
    assert stuck["metadata"]["name"] == "session-store-0"
    seed_awaiting_approval(sandbox, report, vetted_image_patch(str(sandbox.kubeconfig), stuck, "redis:7.4"))
    operator_process.start().wait_alive()

    # Before approval the reviewer reads that approving also deletes the stuck pod, and why.
    suggested = report_now(sandbox, name)["status"]["suggestedPatch"]
    assert suggested["deletesStuckPods"] == {"cause": "OrderedReady"}
    shown = sandbox.kubectl("sre", "show", name).stdout
    assert "Approving also deletes stuck pods" in shown
    assert "podManagementPolicy OrderedReady" in shown
    assert "Stuck now: session-store-0" in shown

    sandbox.kubectl(
        "patch", "dr", name, "--type", "merge", "-p", json.dumps(admin_approval(suggested["sha256"]))
    )
    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Applied", timeout=60)
    applied = condition(report_now(sandbox, name), "PatchApplied")
    assert applied["status"] == "True"
    assert "deleted pod(s) session-store-0" in applied["message"]

    replaced = sandbox.wait_for(lambda: running_on_update_revision(sandbox), timeout=60)
    assert replaced["metadata"]["uid"] != stuck["metadata"]["uid"]
    assert replaced["spec"]["containers"][0]["image"] == "redis:7.4"
    events = [e for e in sandbox.list("events", "default") if e["involvedObject"]["name"] == name]
    assert any("session-store-0" in e["message"] for e in events if e["reason"] == "ApplyApplied")
    verified = sandbox.wait_for(lambda: report_now(sandbox, name)["status"].get("verification"), timeout=90)
    assert verified["result"] == "Verified", verified
