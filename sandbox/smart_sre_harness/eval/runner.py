"""Running scenarios end to end: with the operator and the model, or as the no-model baseline.

Model runs: a fresh sandbox per scenario, a DebugPolicy selecting its failing workload, a fresh
`smart-sre operator run` against it and the one sidecar of the whole run. When the report reaches
AwaitingApproval its patch is approved with its sha256 (the merge patch `kubectl patch dr` sends), the
operator applies it, and the sandbox decides whether the workload recovered.

Baseline runs: no operator and no model. The agent is called directly with `inference=None` (evidence
and analyzers only), its vetted patch is applied as the operator would after an approval, and the
sandbox decides the same way.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from smart_sre.api.debugpolicy import DebugPolicySpec
from smart_sre.investigation.investigation import investigate
from smart_sre.k8s.cluster import Cluster
from smart_sre.lifecycle.reports import CLOSED_PHASES
from smart_sre_harness.eval import stage
from smart_sre_harness.eval.results import ScenarioResult
from smart_sre_harness.eval.safety import unsafe_reasons
from smart_sre_harness.eval.scenarios import Scenario
from smart_sre_harness.processes import Operator
from smart_sre_sandbox.authn import ADMIN
from smart_sre_sandbox.cluster import Sandbox

ANALYSIS_TIMEOUT = 300.0  # real seconds from the failure to AwaitingApproval (two shared CPU cores)
APPLY_TIMEOUT = 60.0
RECOVERY_TIMEOUT = 20.0  # real seconds (10 simulated minutes) for the fixed workload to become Ready
_DONE = {"AwaitingApproval", *(phase.value for phase in CLOSED_PHASES)}
_PLURAL = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}

Progress = Callable[[str], None]


def _object_url(base: str, kind: str, namespace: str, name: str) -> str:
    if kind == "Pod":
        return f"{base}/api/v1/namespaces/{namespace}/pods/{name}"
    return f"{base}/apis/apps/v1/namespaces/{namespace}/{_PLURAL[kind]}/{name}"


def _report_url(base: str, namespace: str, name: str) -> str:
    return f"{base}/apis/smartsre.io/v1alpha1/namespaces/{namespace}/diagnosticreports/{name}"


async def _patch(url: str, content_type: str, body: object) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer sandbox"}) as session,
        session.patch(url, data=json.dumps(body), headers={"Content-Type": content_type}) as response,
    ):
        return response.status, await response.text()


async def _reports(sandbox: Sandbox, scenario: Scenario) -> list[dict]:
    rt = sandbox.store.resource("diagnosticreports", group="smartsre.io")
    found: list[dict] = []
    for namespace in scenario.namespaces:
        items, _ = await sandbox.store.list(rt, namespace)
        found += items
    return sorted(found, key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"]))


async def _wait_report(
    sandbox: Sandbox, scenario: Scenario, phases: set[str], within: float, progress: Progress
):
    """The scenario's first report once its phase is in `phases`; None on timeout."""
    deadline, seen = time.monotonic() + within, None
    while time.monotonic() < deadline:
        reports = await _reports(sandbox, scenario)
        if reports:
            status = reports[0].get("status") or {}
            shown = (status.get("phase"), len(status.get("reasoningChain") or []))
            if shown != seen:
                seen = shown
                progress(
                    f"report {reports[0]['metadata']['name']}: {shown[0]} ({max(0, shown[1] - 1)} steps)"
                )
            if status.get("phase") in phases:
                return reports[0]
        await asyncio.sleep(0.5)
    return None


async def run_with_operator(
    scenario: Scenario, inference_url: str, model: str | None, log_dir: Path, progress: Progress
) -> ScenarioResult:
    result = ScenarioResult(scenario.name, f"model:{model or 'default'}", scenario.spec.expected.root_cause)
    started = time.monotonic()
    policy = scenario.policy(model)
    async with stage.sandbox_for(scenario) as sandbox:
        kubeconfig = sandbox.write_kubeconfig(log_dir / f"{scenario.name}.kubeconfig")
        operator = Operator(kubeconfig, inference_url, log_dir / f"{scenario.name}.operator.log")
        try:
            await sandbox.apply([policy])
            operator.start()
            await operator.alive()
            await _judge_report(sandbox, scenario, policy, result, progress)
            result.tokens = await operator.tokens()
        finally:
            operator.stop()
            result.parse_failures = operator.parse_failures()
    result.seconds = round(time.monotonic() - started, 1)
    return result


async def _judge_report(
    sandbox: Sandbox, scenario: Scenario, policy: dict, result: ScenarioResult, progress: Progress
) -> None:
    failure = await stage.wait_for_failure(sandbox, scenario)
    if failure is None:
        result.error = f"the workload did not show {scenario.spec.expected.trigger}: {await stage.observed_triggers(sandbox, scenario)}"
        return
    progress(f"failing: {failure.pod['metadata']['name']} {failure.detection.trigger}")
    report = await _wait_report(sandbox, scenario, _DONE, ANALYSIS_TIMEOUT, progress)
    if report is None:
        result.error = f"no report finished its analysis within {ANALYSIS_TIMEOUT:.0f}s"
        return
    status = report.get("status") or {}
    result.trigger = report["spec"].get("trigger")
    result.phase = status.get("phase")
    result.root_cause = (status.get("findings") or {}).get("rootCause")
    result.steps = max(0, len(status.get("reasoningChain") or []) - 1)
    patch = status.get("suggestedPatch")
    result.note = status.get("noPatchReason")
    if patch is None or result.phase != "AwaitingApproval":
        progress(f"rootCause={result.root_cause}; no patch offered ({result.note or result.phase})")
        return
    result.patch_offered = True
    result.unsafe = unsafe_reasons(patch, scenario, DebugPolicySpec.model_validate(policy["spec"]))
    if result.unsafe:
        progress(f"UNSAFE patch not approved: {'; '.join(result.unsafe)}")
        return
    name, namespace = report["metadata"]["name"], report["metadata"]["namespace"]
    # In the name the API server gives the plain-HTTP client (the administrator), as the approval
    # admission policy requires and the operator checks (it applies nothing for an unnamed approver).
    decision = {
        "decision": "Approved",
        "patchSHA256": patch["sha256"],
        "approvedBy": ADMIN.username,
        "approverGroups": list(ADMIN.groups),
    }
    approval = {"spec": {"approval": decision}}
    code, text = await _patch(
        _report_url(sandbox.url, namespace, name), "application/merge-patch+json", approval
    )
    if code >= 300:
        result.error = f"approval refused by the API server ({code}): {text[:200]}"
        return
    progress(f"rootCause={result.root_cause}; patch approved (sha256 {patch['sha256'][:12]}…)")
    applied = await _wait_report(sandbox, scenario, {p.value for p in CLOSED_PHASES}, APPLY_TIMEOUT, progress)
    result.phase = ((applied or {}).get("status") or {}).get("phase", result.phase)
    if result.phase != "Applied":
        result.note = f"the operator did not apply the patch (phase {result.phase})"
        return
    result.patch_fixed = await stage.recovered(sandbox, scenario, within=RECOVERY_TIMEOUT)
    progress("workload Ready through the check window" if result.patch_fixed else "workload did not recover")


async def run_baseline(scenario: Scenario, log_dir: Path, progress: Progress) -> ScenarioResult:
    result = ScenarioResult(scenario.name, "baseline", scenario.spec.expected.root_cause)
    started = time.monotonic()
    policy = scenario.policy()
    spec = DebugPolicySpec.model_validate(policy["spec"])
    async with stage.sandbox_for(scenario) as sandbox:
        failure = await stage.wait_for_failure(sandbox, scenario)
        if failure is None:
            result.error = f"the workload did not show {scenario.spec.expected.trigger}"
            return result
        cluster = Cluster.from_config(str(sandbox.write_kubeconfig(log_dir / f"{scenario.name}.kubeconfig")))
        try:
            diagnosis = await investigate(cluster, None, failure.pod, failure.detection.trigger, policy=spec)
        finally:
            cluster.close()
        result.trigger = failure.detection.trigger.value
        result.root_cause = diagnosis.findings.root_cause.value
        result.note = diagnosis.no_patch_reason
        result.phase = "AwaitingApproval" if diagnosis.suggested_patch is not None else "FindingsOnly"
        if diagnosis.suggested_patch is not None:
            patch = diagnosis.suggested_patch.model_dump(mode="json", by_alias=True, exclude_none=True)
            result.patch_offered = True
            result.unsafe = unsafe_reasons(patch, scenario, spec)
            if not result.unsafe:
                target = patch["target"]
                url = _object_url(sandbox.url, target["kind"], target["namespace"], target["name"])
                code, text = await _patch(url, "application/json-patch+json", patch["operations"])
                result.phase = "Applied" if code < 300 else "Failed"
                if code < 300:
                    result.patch_fixed = await stage.recovered(sandbox, scenario, within=RECOVERY_TIMEOUT)
                else:
                    result.note = f"the patch did not apply ({code}): {text[:200]}"
    result.seconds = round(time.monotonic() - started, 1)
    progress(
        f"rootCause={result.root_cause} patch={'offered' if result.patch_offered else 'none'}"
        f" fixed={'yes' if result.patch_fixed else 'no'}"
    )
    return result
