"""Running scenarios end to end: with the operator and the model, or as the no-model baseline.

Model runs: a fresh sandbox per scenario, a DebugPolicy selecting its failing workload, a fresh
`smart-sre operator run` against it and the one sidecar of the whole run. When the report reaches
AwaitingApproval its patch is approved with its sha256 (the merge patch `kubectl sre approve` sends), the
operator applies it, and the sandbox decides whether the workload recovered.

Baseline runs: no operator and no model. The agent is called directly with `inference=None` (evidence
and analyzers only), its vetted patch is applied as the operator would after an approval, and the
sandbox decides the same way.

Either way the report's summary is read too (grounding.py): does it name the culprit the scenario
expects, and does it name anything that nothing showed. The run's final report stays on its result for
`--reports` (report_files.py); the baseline's is the report the operator would have written, named and
shaped as the operator names and shapes one.

The task runner (tasks.py) runs kubectl task suites through the same pieces: `judge_report` and
`judge_baseline` with its own `Judge` (the task's verify.sh), `approve`, `operator_running`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from smart_sre.api.common import Phase
from smart_sre.api.debugpolicy import DebugPolicy, DebugPolicySpec
from smart_sre.commands.kubectl_sre import Plugin
from smart_sre.investigation.investigation import Conclusion, investigate
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.owners import owner_chain
from smart_sre.k8s.stuck_pods import replace_stuck
from smart_sre.k8s.writer import ClusterWriter
from smart_sre.lifecycle.policies import ActivePolicy
from smart_sre.lifecycle.reports import CLOSED_PHASES, Problem, Workload, build_report
from smart_sre_harness.eval import grounding, stage
from smart_sre_harness.eval.results import ScenarioResult
from smart_sre_harness.eval.safety import unsafe_reasons
from smart_sre_harness.eval.scenarios import Scenario
from smart_sre_harness.processes import Operator
from smart_sre_sandbox.cluster import Sandbox

ANALYSIS_TIMEOUT = 300.0  # real seconds from the failure to AwaitingApproval (two shared CPU cores)
APPLY_TIMEOUT = 60.0
RECOVERY_TIMEOUT = 20.0  # real seconds (10 simulated minutes) for the fixed workload to become Ready
_DONE = {"AwaitingApproval", *(phase.value for phase in CLOSED_PHASES)}

Progress = Callable[[str], None]
Reports = Callable[[], Awaitable[list[dict]]]
"""The run's DiagnosticReports, oldest first, read again at every call."""


@dataclass(frozen=True)
class Judge:
    """What decides a run: which offered patches are unsafe (never approved), and whether the workload
    works once a patch is applied (the sandbox for a scenario, verify.sh for a task)."""

    unsafe: Callable[[dict], list[str]]
    works: Callable[[], Awaitable[bool]]
    # Reads a report's status into the result's summary measures; None where nothing the reader was
    # shown is known to judge it by (a task's cluster is whatever its setup.sh made).
    summary: Callable[[dict, ScenarioResult], None] | None = None


def blank_result(scenario: Scenario, mode: str) -> ScenarioResult:
    """A scenario's result before its run: a culprit it expects counts as not named until a summary does."""
    expected = scenario.spec.expected
    result = ScenarioResult(scenario.name, mode, expected.root_cause, set=scenario.set)
    result.culprit_named = False if expected.mentions else None
    return result


def summary_reader(scenario: Scenario) -> Callable[[dict, ScenarioResult], None]:
    """How a report of this scenario is read: its summary against the mentions the scenario expects, and
    against the scenario's objects and the report's own evidence for invented names."""
    shown = grounding.shown_by_cluster(scenario.documents)

    def read(status: dict, result: ScenarioResult) -> None:
        summary = result.summary = grounding.summary_of(status)
        result.culprit_named = grounding.culprit_named(summary, scenario.spec.expected.mentions)
        result.invented = grounding.invented(
            summary, shown | grounding.known_words(grounding.report_text(status))
        )

    return read


async def _reports(sandbox: Sandbox, scenario: Scenario) -> list[dict]:
    rt = sandbox.store.resource("diagnosticreports", group="smartsre.io")
    found: list[dict] = []
    for namespace in scenario.namespaces:
        items, _ = await sandbox.store.list(rt, namespace)
        found += items
    return sorted(found, key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"]))


async def wait_report(reports: Reports, phases: set[str], within: float, progress: Progress) -> dict | None:
    """The run's first report once its phase is in `phases`; None on timeout."""
    deadline, seen = time.monotonic() + within, None
    while time.monotonic() < deadline:
        found = await reports()
        if found:
            status = found[0].get("status") or {}
            shown = (status.get("phase"), len(status.get("reasoningChain") or []))
            if shown != seen:
                seen = shown
                progress(f"report {found[0]['metadata']['name']}: {shown[0]} ({max(0, shown[1] - 1)} steps)")
            if status.get("phase") in phases:
                return found[0]
        await asyncio.sleep(0.5)
    return None


async def approve(cluster: ClusterWriter, report: dict, patch: dict) -> None:
    """Approve `patch` as a human would: the merge patch of `spec.approval` that `kubectl sre approve NAME
    --yes` sends, pinning its sha256, in the name and groups the API server gives this client (the
    approval admission policy requires them, and the operator applies nothing for an unnamed approver)."""
    reviewer = Plugin(cluster, report["metadata"]["namespace"])
    await reviewer.decide(report, {"decision": "Approved", "action": "Apply", "patchSHA256": patch["sha256"]})


@asynccontextmanager
async def operator_running(
    kubeconfig: Path, inference_url: str, log_path: Path, result: ScenarioResult
) -> AsyncIterator[Operator]:
    """A fresh `smart-sre operator run` for one run; its tokens and parse failures go to `result`."""
    operator = Operator(kubeconfig, inference_url, log_path)
    try:
        operator.start()
        await operator.alive()
        yield operator
        result.tokens = await operator.tokens()
    finally:
        operator.stop()
        result.parse_failures = operator.parse_failures()


def _scenario_judge(
    sandbox: Sandbox, scenario: Scenario, policy: DebugPolicySpec, progress: Progress
) -> Judge:
    async def works() -> bool:
        recovered = await stage.recovered(sandbox, scenario, within=RECOVERY_TIMEOUT)
        progress("workload Ready through the check window" if recovered else "workload did not recover")
        return recovered

    return Judge(
        unsafe=lambda patch: unsafe_reasons(patch, scenario, policy),
        works=works,
        summary=summary_reader(scenario),
    )


async def run_with_operator(
    scenario: Scenario, inference_url: str, model: str | None, log_dir: Path, progress: Progress
) -> ScenarioResult:
    result = blank_result(scenario, f"model:{model or 'default'}")
    started = time.monotonic()
    policy = scenario.policy(model)
    async with stage.sandbox_for(scenario) as sandbox:
        kubeconfig = sandbox.write_kubeconfig(log_dir / f"{scenario.name}.kubeconfig")
        await sandbox.apply([policy])
        cluster = ClusterWriter.from_config(str(kubeconfig))
        try:
            async with operator_running(
                kubeconfig,
                inference_url,
                log_dir / f"{scenario.name}.{model or 'default'}.operator.log",
                result,
            ):
                failure = await stage.wait_for_failure(sandbox, scenario)
                if failure is None:
                    result.error = f"the workload did not show {scenario.spec.expected.trigger}: {await stage.observed_triggers(sandbox, scenario)}"
                else:
                    progress(f"failing: {failure.pod['metadata']['name']} {failure.detection.trigger}")
                    judge = _scenario_judge(
                        sandbox, scenario, DebugPolicySpec.model_validate(policy["spec"]), progress
                    )
                    await judge_report(cluster, lambda: _reports(sandbox, scenario), judge, result, progress)
            # The report as the stopped operator left it: its phase after approval and verification.
            result.report = next(iter(await _reports(sandbox, scenario)), None)
        finally:
            cluster.close()
    result.seconds = round(time.monotonic() - started, 1)
    return result


async def judge_report(
    cluster: ClusterWriter, reports: Reports, judge: Judge, result: ScenarioResult, progress: Progress
) -> None:
    """The operator's report, judged: its findings recorded, a safe patch approved, the outcome judged."""
    report = await wait_report(reports, _DONE, ANALYSIS_TIMEOUT, progress)
    if report is None:
        result.error = f"no report finished its analysis within {ANALYSIS_TIMEOUT:.0f}s"
        return
    status = report.get("status") or {}
    if judge.summary is not None:
        judge.summary(status, result)
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
    result.unsafe = judge.unsafe(patch)
    if result.unsafe:
        progress(f"UNSAFE patch not approved: {'; '.join(result.unsafe)}")
        return
    try:
        await approve(cluster, report, patch)
    except ClusterError as error:
        result.error = f"approval refused by the API server ({error.status}): {str(error)[:200]}"
        return
    progress(f"rootCause={result.root_cause}; patch approved (sha256 {patch['sha256'][:12]}…)")
    applied = await wait_report(reports, {p.value for p in CLOSED_PHASES}, APPLY_TIMEOUT, progress)
    result.phase = ((applied or {}).get("status") or {}).get("phase", result.phase)
    if result.phase != "Applied":
        result.note = f"the operator did not apply the patch (phase {result.phase})"
        return
    result.patch_fixed = await judge.works()


async def run_baseline(scenario: Scenario, log_dir: Path, progress: Progress) -> ScenarioResult:
    result = blank_result(scenario, "baseline")
    started = time.monotonic()
    policy = ActivePolicy.from_model(DebugPolicy.model_validate(scenario.policy()))
    async with stage.sandbox_for(scenario) as sandbox:
        failure = await stage.wait_for_failure(sandbox, scenario)
        if failure is None:
            result.error = f"the workload did not show {scenario.spec.expected.trigger}"
            return result
        cluster = ClusterWriter.from_config(
            str(sandbox.write_kubeconfig(log_dir / f"{scenario.name}.kubeconfig"))
        )
        try:
            # Named before the patch is applied: a rollout may replace the owners the failing pod names.
            problem = await _problem(cluster, failure)
            judge = _scenario_judge(sandbox, scenario, policy.spec, progress)
            diagnosis = await judge_baseline(cluster, failure, policy.spec, judge, result, progress)
            report = build_report(problem, failure.pod, policy, occurrence=1)
            status = diagnosis.status().model_copy(update={"phase": Phase(result.phase)})
            result.report = report.model_copy(update={"status": status}).model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        finally:
            cluster.close()
    result.seconds = round(time.monotonic() - started, 1)
    return result


async def _problem(cluster: ClusterWriter, failure: stage.Failure) -> Problem:
    """The problem the operator would open a report for: the failing pod's top-level owner and trigger."""
    chain = await owner_chain(cluster, failure.pod)
    return Problem(failure.pod["metadata"]["namespace"], Workload.of(chain[-1]), failure.detection.trigger)


async def judge_baseline(
    cluster: ClusterWriter,
    failure: stage.Failure,
    policy: DebugPolicySpec,
    judge: Judge,
    result: ScenarioResult,
    progress: Progress,
) -> Conclusion:
    """The agent without a model on the failing pod, judged like a report: its vetted patch, if safe,
    applied to the target as the operator applies an approved one, and the outcome judged."""
    trigger = failure.detection.trigger
    diagnosis = await investigate(cluster, None, failure.pod, trigger, policy=policy)
    if judge.summary is not None:
        judge.summary(diagnosis.status().model_dump(mode="json", by_alias=True, exclude_none=True), result)
    result.trigger = trigger.value
    result.root_cause = diagnosis.findings.root_cause.value
    result.note = diagnosis.no_patch_reason
    result.phase = "AwaitingApproval" if diagnosis.suggested_patch is not None else "FindingsOnly"
    if diagnosis.suggested_patch is not None:
        patch = diagnosis.suggested_patch.model_dump(mode="json", by_alias=True, exclude_none=True)
        result.patch_offered = True
        result.unsafe = judge.unsafe(patch)
        if not result.unsafe:
            target = patch["target"]
            try:
                await cluster.apply_json_patch(
                    target["kind"], target["namespace"], target["name"], patch["operations"]
                )
            except ClusterError as error:
                result.phase = "Failed"
                result.note = f"the patch did not apply ({error.status}): {str(error)[:200]}"
            else:
                # What the operator does after an approved patch: pods the controller will not replace.
                await replace_stuck(
                    cluster,
                    target["kind"],
                    target["namespace"],
                    target["name"],
                    delete=diagnosis.suggested_patch.deletes_stuck_pods is not None,
                    sleep=asyncio.sleep,
                )
                result.phase = "Applied"
                result.patch_fixed = await judge.works()
    progress(
        f"rootCause={result.root_cause} patch={'offered' if result.patch_offered else 'none'}"
        f" fixed={'yes' if result.patch_fixed else 'no'}"
    )
    return diagnosis
