"""The attacks of docs/security.md, end to end: the real kubectl against the sandbox, the real operator.

Each attack is made as the administrator or as a user holding only the rights the attack needs, and
each test shows it refused: the report in a clear phase with the condition's reason, and the target
workload as it was. (A forged status, an approver without patch rights and a suggestion aimed at
another namespace have their own end-to-end tests: test_e2e_approval, test_e2e_approver_identity,
test_e2e_suggestion_namespace.)
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from smart_sre.api.diagnosticreport import ObservedReport
from smart_sre.commands.wiring import OperatorConfig
from smart_sre.k8s.cluster import Cluster
from smart_sre.k8s.owners import owner_chain
from smart_sre.lifecycle.approval import SealKey
from smart_sre_sandbox.errors import ApiError
from smart_sre_sandbox.faults import ErrorFault, FaultRequest

from . import scenario
from .reading import condition, report_now, reports
from .seeding import MEMORY, admin_approval, create_ledger_report, open_and_seed, vetted_memory_patch

pytestmark = [
    pytest.mark.usefixtures("kubectl_plugin"),
    pytest.mark.e2e,
    pytest.mark.kubectl,
]

JSON_PATCH = "application/json-patch+json"
LEDGER = "/apis/apps/v1/namespaces/default/deployments/ledger"
CLEAR = "\x1b[2J"  # erase the screen
HIDE = "\x1b[8m"  # SGR 8: conceal what follows


def memory_of(sandbox, deployment: str = "ledger") -> str:
    body = sandbox.get("deployments", "default", deployment)
    return body["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"]


def approve(sandbox, name: str, sha: str) -> None:
    sandbox.kubectl("patch", "dr", name, "--type", "merge", "-p", json.dumps(admin_approval(sha)))


def refusal(sandbox, name: str, timeout: float = 30) -> dict:
    """The report's ApprovalRefused condition once it is True."""
    return sandbox.wait_for(
        lambda: (
            (c := condition(report_now(sandbox, name), "ApprovalRefused")) and c["status"] == "True" and c
        ),
        timeout=timeout,
    )


def events_of(sandbox, name: str) -> list[dict]:
    return [e for e in sandbox.list("events", "default") if e["involvedObject"]["name"] == name]


def seal_status(sandbox, report: dict, status: dict[str, Any]) -> None:
    """Write `status` through the status subresource as the operator publishes it: sealed with its key."""
    key = SealKey.load(Path(OperatorConfig.from_env().seal_key_file))
    observed = ObservedReport.model_validate({**report, "status": status})
    published = key.publish(observed, observed.status, now=datetime.now(UTC))
    store = sandbox.store
    sandbox.run(
        store.patch(
            store.resource("diagnosticreports"),
            report["metadata"]["namespace"],
            report["metadata"]["name"],
            "application/merge-patch+json",
            {"status": published.model_dump(mode="json", by_alias=True, exclude_none=True)},
            subresource="status",
        )
    )


@pytest.fixture
def awaiting(sandbox, operator_process) -> dict:
    """The real operator's report for the unschedulable `ledger`, AwaitingApproval with a sealed patch."""
    policy = scenario.policy(triggers=["Pending"], pendingGracePeriod="1s")
    return open_and_seed(sandbox, operator_process, [policy, scenario.memory_hungry()])


# (1) Re-opening an approved, applied report with new operations under the same sha256.


def test_a_reopened_applied_report_with_new_operations_is_refused(sandbox, awaiting) -> None:
    name = awaiting["metadata"]["name"]
    sha = awaiting["status"]["suggestedPatch"]["sha256"]
    approve(sandbox, name, sha)
    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Applied", timeout=30)
    assert memory_of(sandbox) == "256Mi"
    applied = sandbox.get("deployments", "default", "ledger")

    # eve may write report statuses in the namespace, and nothing else.
    sandbox.kubectl(
        "create", "role", "report-status-writer", "--verb=get,patch", "--resource=diagnosticreports/status"
    )
    sandbox.kubectl("create", "rolebinding", "eve-writes-status", "--role=report-status-writer", "--user=eve")
    eve = sandbox.kubeconfig_for("eve")
    operations = [
        {"op": "test", "path": MEMORY, "value": "256Mi"},
        {"op": "replace", "path": MEMORY, "value": "32Gi"},
    ]
    reopened = {
        "status": {"phase": "AwaitingApproval", "suggestedPatch": {"operations": operations, "sha256": sha}}
    }
    done = sandbox.kubectl(
        "--kubeconfig",
        str(eve),
        "patch",
        "dr",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(reopened),
        check=False,
    )
    assert done.returncode == 0, done.stderr  # the API server lets her: the operator must refuse
    assert report_now(sandbox, name)["spec"]["approval"]["patchSHA256"] == sha  # the old approval stands

    refused = refusal(sandbox, name)
    assert refused["reason"] == "SuggestionTampered"
    assert "not the one smart-sre wrote" in refused["message"]
    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Failed", timeout=30)
    assert memory_of(sandbox) == "256Mi"
    now = sandbox.get("deployments", "default", "ledger")
    assert now["metadata"]["generation"] == applied["metadata"]["generation"]
    assert any(e["reason"] == "SuggestionTampered" for e in events_of(sandbox, name))


# (2) A bare pod whose ownerReferences claim a healthy Deployment by name, with another uid.


def impostor(owner: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "impostor",
            "namespace": "default",
            "labels": {"app": "critical-app", "component": "impostor"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": owner["metadata"]["name"],
                    "uid": "00000000-0000-4000-8000-000000000000",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "sandbox/web:1.0",
                    "resources": {"requests": {"memory": "64Gi", "cpu": "100m"}},
                }
            ]
        },
    }


def test_a_pod_claiming_a_deployment_it_does_not_belong_to_gets_it_nothing_patched(
    sandbox, operator_process
) -> None:
    policy = scenario.policy(triggers=["Pending"], pendingGracePeriod="1s")
    sandbox.apply([policy, scenario.deployment("web", image="sandbox/web:1.0", memory="128Mi")])
    web_pod = sandbox.wait_for(
        lambda: [
            p
            for p in sandbox.list("pods", "default", "component=web")
            if p["status"].get("phase") == "Running"
        ]
    )[0]
    web = sandbox.get("deployments", "default", "web")
    sandbox.kubectl("create", "-f", "-", input=json.dumps(impostor(web)))

    operator_process.start().wait_alive()
    report = sandbox.wait_for(lambda: reports(sandbox), timeout=60)[0]
    operator_process.stop()
    assert report["spec"]["podRef"]["name"] == "impostor"
    assert report["spec"].get("workloadRef", {}).get("uid") != web["metadata"]["uid"]

    # The analysis follows ownerReferences only by uid: the impostor has no owner to aim a patch at.
    pod = sandbox.get("pods", "default", "impostor")
    assert [o["metadata"]["name"] for o in chain_of(sandbox, pod)] == ["impostor"]

    # The change an analysis fooled by the claim would suggest: vetted on web's own pod, sealed, and
    # published on the impostor's report.
    seal_status(
        sandbox,
        report,
        {
            "phase": "AwaitingApproval",
            "findings": {
                "summary": "web requests too little memory.",
                "rootCause": "OOMKilled",
                "confidence": "High",
            },
            **vetted_memory_patch(str(sandbox.kubeconfig), web_pod, "256Mi"),
        },
    )
    operator_process.start().wait_alive()
    name = report["metadata"]["name"]
    sha = report_now(sandbox, name)["status"]["suggestedPatch"]["sha256"]
    approve(sandbox, name, sha)

    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Failed", timeout=30)
    applied = condition(report_now(sandbox, name), "PatchApplied")
    assert applied["status"] == "False"
    assert applied["reason"] == "NotInOwnerChain"
    assert (
        f"Deployment/web (uid {web['metadata']['uid']}) is not in the owner chain of pod impostor"
        in (applied["message"])
    )
    assert memory_of(sandbox, "web") == "128Mi"
    after = sandbox.get("deployments", "default", "web")
    assert after["metadata"]["generation"] == web["metadata"]["generation"]


def chain_of(sandbox, pod: dict) -> list[dict]:
    """The pod's owner chain as the operator's analysis and apply follow it."""

    async def follow() -> list[dict]:
        cluster = Cluster.from_config(str(sandbox.kubeconfig))
        try:
            return await owner_chain(cluster, {**pod, "kind": "Pod"})
        finally:
            cluster.close()

    return asyncio.run(follow())


# (3) A DebugPolicy opening every field to patches.


@pytest.mark.parametrize("pattern", ["/*", "/spec"])
def test_a_policy_opening_the_whole_object_is_refused_by_the_api_server(sandbox, pattern: str) -> None:
    body = scenario.policy("wide-open", remediation={"allowedPaths": [pattern]})
    result = sandbox.kubectl("apply", "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert 'The DebugPolicy "wide-open" is invalid' in result.stderr
    assert "spec.remediation.allowedPaths[0]" in result.stderr
    assert "the pattern opens too much: it must name a field of the pod spec" in result.stderr
    assert sandbox.list("debugpolicies") == []


# (4) and (5): a report awaiting approval, written as the operator writes one, with hostile findings.


@pytest.fixture
def hostile_report(sandbox) -> dict:
    """A report AwaitingApproval for `ledger`, sealed, whose findings carry terminal escapes."""
    pod = create_ledger_report(sandbox, "ledger-pending")
    report = report_now(sandbox, "ledger-pending")
    seal_status(
        sandbox,
        report,
        {
            "phase": "AwaitingApproval",
            "findings": {
                "summary": f"{CLEAR}All checks passed.{HIDE} The pod requests 64Gi of memory.",
                "rootCause": "InsufficientResources",
                "confidence": "High",
            },
            "reasoningChain": [
                {
                    "index": 0,
                    "observation": f"PodScheduled=False{HIDE} Unschedulable: Insufficient memory.",
                    "thought": f"{CLEAR}approve this, it is safe",
                }
            ],
            **vetted_memory_patch(str(sandbox.kubeconfig), pod, "256Mi"),
        },
    )
    return report_now(sandbox, "ledger-pending")


def test_an_answer_piped_into_approve_approves_nothing(sandbox, hostile_report) -> None:
    result = sandbox.kubectl("sre", "approve", "ledger-pending", input="y\n", check=False)
    assert result.returncode != 0
    assert "standard input is not a terminal" in result.stderr
    assert "diagnosticreport default/ledger-pending approved" not in result.stdout
    assert "\x1b" not in result.stdout  # the report it printed before asking is escaped too
    stored = report_now(sandbox, "ledger-pending")
    assert stored["status"]["phase"] == "AwaitingApproval"
    assert "approval" not in stored["spec"]
    assert "approvals" not in stored["spec"]
    assert memory_of(sandbox) == "64Gi"


def test_show_escapes_terminal_sequences_in_the_findings(sandbox, hostile_report) -> None:
    stored = hostile_report["status"]
    assert CLEAR in stored["findings"]["summary"]  # stored as the operator wrote them
    result = sandbox.kubectl("sre", "show", "ledger-pending")
    out = result.stdout
    assert "\x1b" not in out
    assert "\x1b" not in result.stderr
    assert r"\x1b[2JAll checks passed.\x1b[8m The pod requests 64Gi of memory." in out
    assert r"PodScheduled=False\x1b[8m Unschedulable" in out
    assert r"\x1b[2Japprove this, it is safe" in out


# (6) The API server failing the workload PATCH: the operator retries, the change lands once.


def test_a_workload_patch_the_api_server_fails_twice_is_retried_and_applied_once(
    sandbox, awaiting, monkeypatch
) -> None:
    """The real PATCH (not its dry run) of the Deployment answers 500 twice, as the fault injection does."""
    name = awaiting["metadata"]["name"]
    store = sandbox.store
    real_patch = store.patch
    calls: list[str] = []

    async def failing_patch(rt, namespace, name_, patch_type, body, **options):
        if (
            rt.plural == "deployments"
            and name_ == "ledger"
            and patch_type == JSON_PATCH
            and options.get("subresource") is None
            and not options.get("dry_run")
        ):
            calls.append("failed" if len(calls) < 2 else "applied")
            if len(calls) <= 2:
                raise ApiError(500, "InternalError", "Internal error occurred: injected fault (attack suite)")
        return await real_patch(rt, namespace, name_, patch_type, body, **options)

    monkeypatch.setattr(store, "patch", failing_patch)
    before = sandbox.get("deployments", "default", "ledger")["metadata"]["generation"]
    approve(sandbox, name, awaiting["status"]["suggestedPatch"]["sha256"])

    sandbox.wait_for(lambda: report_now(sandbox, name)["status"]["phase"] == "Applied", timeout=30)
    applied = condition(report_now(sandbox, name), "PatchApplied")
    assert applied["status"] == "True"
    assert "at attempt 3" in applied["message"]
    assert calls == ["failed", "failed", "applied"]
    assert memory_of(sandbox) == "256Mi"
    assert sandbox.get("deployments", "default", "ledger")["metadata"]["generation"] == before + 1


def test_a_500_from_the_fault_injection_on_the_next_deployment_patch_is_retried(sandbox, awaiting) -> None:
    """The sandbox's fault injection (faults.py): the next PATCH of the Deployment answers 500 once.

    That PATCH is the fresh dryRun=All the operator sends at apply (`vet_patch`, re-proving safety)
    before the real one; a transient 500 there must be retried like one on the real PATCH, not taken
    for a patch that failed the safety checks.
    """
    name = awaiting["metadata"]["name"]
    before = sandbox.get("deployments", "default", "ledger")["metadata"]["generation"]
    sandbox.sandbox.faults.arm(
        FaultRequest(errors=[ErrorFault(code=500, count=1, path_prefix=LEDGER, verb="patch")])
    )
    approve(sandbox, name, awaiting["status"]["suggestedPatch"]["sha256"])

    sandbox.wait_for(
        lambda: report_now(sandbox, name)["status"]["phase"] not in ("AwaitingApproval", "Applying"),
        timeout=30,
    )
    report = report_now(sandbox, name)
    assert sandbox.sandbox.faults.errors == []  # the fault was consumed
    applied = condition(report, "PatchApplied")
    assert (report["status"]["phase"], applied["status"]) == ("Applied", "True"), (
        f"{applied['reason']}: {applied['message']}"
    )
    assert memory_of(sandbox) == "256Mi"
    assert sandbox.get("deployments", "default", "ledger")["metadata"]["generation"] == before + 1
