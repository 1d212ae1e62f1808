"""Put a report in AwaitingApproval as an analysis would, without the model, to test what follows.

The suggested patch goes through the agent's real safety checks (`patch_safety.vet_patch`: owner chain,
allowed paths, dry run on the API server, `test` guards, the inverse patch) and is sealed with the
operator's key, as the analysis publishes it; only the findings text stands in for the model's words.
Tests of the analysis itself run the real model (see test_e2e_model).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smart_sre.api.debugpolicy import Remediation
from smart_sre.api.diagnosticreport import ObservedReport
from smart_sre.commands.wiring import OperatorConfig
from smart_sre.investigation.patch_safety import vet_patch
from smart_sre.k8s.cluster import Cluster
from smart_sre.k8s.owners import owner_chain
from smart_sre.lifecycle.approval import SealKey
from smart_sre_harness.processes import Operator
from smart_sre_sandbox.authn import ADMIN

from . import scenario
from .reading import report_now, reports

MEMORY = "/spec/template/spec/containers/0/resources/requests/memory"


def admin_approval(sha: str) -> dict[str, Any]:
    """A merge patch approving `sha` as the sandbox's administrator (the plain-HTTP kubeconfig's user).

    It names the approver as the API server authenticates them, as `kubectl sre approve` does: the
    operator applies nothing for an approval that names nobody.
    """
    approval = {
        "decision": "Approved",
        "patchSHA256": sha,
        "approvedBy": ADMIN.username,
        "approverGroups": list(ADMIN.groups),
    }
    return {"spec": {"approval": approval}}


def vetted_memory_patch(kubeconfig: str, pod: dict, memory: str) -> dict[str, Any]:
    """suggestedPatch and rollbackPatch for "request `memory` instead", as the report stores them."""

    async def vet() -> dict[str, Any]:
        cluster = Cluster.from_config(kubeconfig)
        try:
            chain = await owner_chain(cluster, pod)
            top = chain[-1]
            target = f"{top['kind']}/{top['metadata']['name']}"
            safe = await vet_patch(
                cluster, chain, target, [{"op": "replace", "path": MEMORY, "value": memory}], Remediation()
            )
        finally:
            cluster.close()
        return {
            "suggestedPatch": safe.suggested.model_dump(mode="json", by_alias=True, exclude_none=True),
            "rollbackPatch": safe.rollback.model_dump(mode="json", by_alias=True, exclude_none=True),
        }

    return asyncio.run(vet())


def seed_awaiting_approval(sandbox: Any, report: dict, patches: dict[str, Any]) -> None:
    store = sandbox.store
    status = {
        "phase": "AwaitingApproval",
        "findings": {
            "summary": "The pod requests 64Gi of memory; no node has that much allocatable.",
            "rootCause": "InsufficientResources",
            "confidence": "High",
        },
        "reasoningChain": [
            {"index": 0, "observation": "PodScheduled=False Unschedulable: Insufficient memory."}
        ],
        **patches,
    }
    # The key the operator started by the tests holds (the same environment picks the same file).
    key = SealKey.load(Path(OperatorConfig.from_env().seal_key_file))
    observed = ObservedReport.model_validate({**report, "status": status})
    published = key.publish(observed, observed.status, now=datetime.now(UTC))
    status = published.model_dump(mode="json", by_alias=True, exclude_none=True)
    sandbox.run(
        store.patch(
            store.resource("diagnosticreports"),
            report["metadata"]["namespace"],
            report["metadata"]["name"],
            "application/merge-patch+json",
            {"status": status},
            subresource="status",
        )
    )


def open_and_seed(sandbox, operator_process: Operator, objects: list[dict]) -> dict:
    """Let the operator open the one report of `objects`, then seed it AwaitingApproval (operator down)."""
    sandbox.apply(objects)
    operator_process.start().wait_alive()
    report = sandbox.wait_for(lambda: reports(sandbox), timeout=60)[0]
    operator_process.stop()
    pod = sandbox.get("pods", "default", report["spec"]["podRef"]["name"])
    seed_awaiting_approval(sandbox, report, vetted_memory_patch(str(sandbox.kubeconfig), pod, "256Mi"))
    operator_process.start().wait_alive()
    return report_now(sandbox, report["metadata"]["name"])


def create_ledger_report(sandbox: Any, name: str) -> dict:
    """The memory-hungry `ledger` workload and a report about its Pending pod, created with kubectl as the
    operator would open it (no status yet); returns the failing pod."""
    sandbox.apply([scenario.memory_hungry()])
    pod = sandbox.wait_for(lambda: sandbox.list("pods", "default", "component=ledger"))[0]
    deployment = sandbox.get("deployments", "default", "ledger")
    report = {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DiagnosticReport",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "podRef": {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]},
            "workloadRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "ledger",
                "uid": deployment["metadata"]["uid"],
            },
            "trigger": "Pending",
            "policyRef": {"name": "protect-critical-services"},
        },
    }
    sandbox.kubectl("create", "-f", "-", input=json.dumps(report))
    return pod
