"""How an analysis ends on the report: awaiting approval with a patch, or closed with findings only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smart_sre.api.common import RootCause
from smart_sre.api.diagnosticreport import (
    Confidence,
    DiagnosticReportStatus,
    Findings,
    ModelRef,
    ObservedReport,
    ReasoningStep,
    SuggestedPatch,
)
from smart_sre.investigation.investigation import Conclusion
from smart_sre.k8s.writer import merge_patch
from smart_sre.lifecycle.analysis import Analyst
from smart_sre.lifecycle.approval import SealKey
from smart_sre.lifecycle.concurrency import AnalysisSlots
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import ActivePolicy, PolicyBook
from smart_sre.lifecycle.reports import CLOSED_PHASES, decide_opening, phase_of

from .pods import pod

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
POLICY = {
    "metadata": {"name": "seed", "generation": 1},
    "spec": {"rules": [{"namespaces": ["default"], "selector": {"matchLabels": {"app": "web"}}}]},
}
PATCH = {
    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web"},
    "operations": [{"op": "replace", "path": "/spec/replicas", "value": 2}],
    "sha256": "a" * 64,
}


class FakeWriter:
    """What an analysis calls: read the pod and the reports, merge into a report's status.

    `reports` hold the reports as the API server stores them (JSON); reads parse them as the real writer
    does. `writes` is every status patch in the order sent, with the report's name.
    """

    def __init__(self, live_pod: dict[str, Any], *reports: dict[str, Any]) -> None:
        self.pod = live_pod
        self.reports = {report["metadata"]["name"]: report for report in reports}
        self.writes: list[tuple[str, dict[str, Any]]] = []

    @property
    def report(self) -> dict[str, Any]:
        """The report, when there is one."""
        (only,) = self.reports.values()
        return only

    @property
    def phases(self) -> list[str]:
        """The phases written, in order."""
        return [patch["phase"] for _, patch in self.writes if "phase" in patch]

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pod if (kind, name) == ("Pod", self.pod["metadata"]["name"]) else None

    async def read_report(self, namespace: str, name: str) -> ObservedReport:
        return ObservedReport.model_validate(self.reports[name])

    async def patch_report_status(
        self, report: ObservedReport, status: DiagnosticReportStatus
    ) -> ObservedReport:
        name, patch = report.metadata.name, merge_patch(status)
        self.writes.append((name, patch))
        stored = self.reports[name]
        merged = {**(stored.get("status") or {}), **patch}
        self.reports[name] = {**stored, "status": {k: v for k, v in merged.items() if v is not None}}
        return ObservedReport.model_validate(self.reports[name])


class FakeInvestigator:
    unavailable = (ConnectionError,)

    def __init__(self, result: Conclusion) -> None:
        self.result = result

    async def ensure_ready(self) -> None:
        pass

    async def __call__(self, pod, trigger, policy, on_step) -> Conclusion:
        on_step(self.result.reasoning_chain[0])
        return self.result

    async def close(self) -> None:
        pass


def result(*, patch: bool) -> Conclusion:
    return Conclusion(
        findings=Findings(
            summary="Service cart-redis has no ready pods.",
            root_cause=RootCause.DEPENDENCY_UNAVAILABLE,
            confidence=Confidence.HIGH,
        ),
        reasoning_chain=[ReasoningStep(index=0, observation="dial tcp cart-redis:6379: connection refused")],
        suggested_patch=SuggestedPatch.model_validate(PATCH) if patch else None,
        rollback_patch=None,
        no_patch_reason=None if patch else "the fix is to make the pods behind Service cart-redis ready",
        candidates=[],
        model=ModelRef(name="gemma-3-270m-q4_k_m", sha256="b" * 64),
        prompts={},
        tokens=0,
        stopped="finish",
    )


async def analyse(
    analysis: Conclusion,
    monkeypatch: pytest.MonkeyPatch,
    *,
    investigator: type = FakeInvestigator,
    status: Any = None,
) -> tuple[dict, list[str], list[str]]:
    """The report (as stored) after one analysis, the events posted on it, and the phases it went
    through; `status` is what the report's status held before (Pending by default)."""
    events = posted_events(monkeypatch)
    failing = pod(waiting="CrashLoopBackOff")
    report = report_for(failing, status=status)
    writer = FakeWriter(failing, report)
    analyst = Analyst(
        writer, Metrics(), AnalysisSlots(1), investigator(analysis), lambda: NOW, seal_key=SealKey(b"k" * 32)
    )  # type: ignore[arg-type]
    await analyst.run(await writer.read_report("default", report["metadata"]["name"]), seed_policy())
    return writer.report, events, writer.phases


def posted_events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The reasons of the events an analysis posts on its report, as it posts them."""
    events: list[str] = []
    for kind in ("info", "warn"):
        monkeypatch.setattr(
            f"smart_sre.lifecycle.analysis.kopf.{kind}",
            lambda obj, *, reason, message: events.append(reason),
        )
    return events


def report_for(
    failing: dict[str, Any], *, status: Any = None, name: str = "web-crashloopbackoff-0123456789"
) -> dict[str, Any]:
    """A CrashLoopBackOff report on `failing` as the API server stores it; Pending unless `status` says."""
    return {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DiagnosticReport",
        "metadata": {"name": name, "namespace": failing["metadata"]["namespace"]},
        "spec": {
            "podRef": {"name": failing["metadata"]["name"], "uid": failing["metadata"]["uid"]},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-web"},
            "trigger": "CrashLoopBackOff",
            "policyRef": {"name": "seed"},
        },
        "status": {"phase": "Pending"} if status is None else status,
    }


def seed_policy() -> ActivePolicy:
    book = PolicyBook()
    book.upsert(POLICY)
    return book.get("seed")


async def test_a_patch_waits_for_approval(monkeypatch):
    report, events, _ = await analyse(result(patch=True), monkeypatch)
    status = report["status"]
    assert status["phase"] == "AwaitingApproval"
    assert status["suggestedPatch"]["sha256"] == "a" * 64
    assert "finishedAt" not in status["timings"]
    assert events == ["Analyzed"]


async def test_findings_without_a_patch_close_the_report_and_say_why(monkeypatch):
    report, events, _ = await analyse(result(patch=False), monkeypatch)
    status = report["status"]
    assert status["phase"] == "FindingsOnly"
    assert "cart-redis" in status["noPatchReason"]
    assert status["findings"]["rootCause"] == "DependencyUnavailable"
    analyzed = next(c for c in status["conditions"] if c["type"] == "Analyzed")
    assert (analyzed["status"], analyzed["reason"]) == ("True", "FindingsOnly")
    assert status["timings"]["finishedAt"] == "2026-01-05T12:00:00Z"
    assert "suggestedPatch" not in status
    assert events == ["Analyzed"]
    # Closed now: the same problem cools down before it may open again.
    closed = ObservedReport.model_validate(report)
    assert phase_of(closed) in CLOSED_PHASES
    assert decide_opening([closed], timedelta(minutes=10), NOW).reason == "CoolingDown"


class FlakySidecar(FakeInvestigator):
    """Down twice; then dies once after the evidence, once after a model step; then up for good."""

    def __init__(self, analysis: Conclusion) -> None:
        super().__init__(analysis)
        self.checks = 0
        self.calls = 0

    async def ensure_ready(self) -> None:
        self.checks += 1
        if self.checks <= 2:
            raise ConnectionError("connection refused")

    async def __call__(self, pod, trigger, policy, on_step) -> Conclusion:
        self.calls += 1
        if self.calls <= 2:
            on_step(self.result.reasoning_chain[0])
            if self.calls == 2:
                on_step(ReasoningStep(index=1, observation="no Service cart-redis", thought="check it"))
            raise ConnectionError("server disconnected")
        return await super().__call__(pod, trigger, policy, on_step)


async def test_a_down_sidecar_is_waited_for_and_backs_off_afresh_after_it_answered(monkeypatch):
    delays = no_sleep(monkeypatch)
    report, _, phases = await analyse(result(patch=True), monkeypatch, investigator=FlakySidecar)
    assert report["status"]["phase"] == "AwaitingApproval"
    # The evidence is gathered without the model, so only the model step starts the back-off over.
    assert delays == [2.0, 4.0, 8.0, 2.0]
    # Down: stays Pending (no flapping through Analyzing); dies mid-analysis: back to Pending, then done.
    assert phases == ["Pending", "Pending", *["Analyzing", "Pending"] * 2, "Analyzing", "AwaitingApproval"]
    unavailable = next(c for c in report["status"]["conditions"] if c["type"] == "InferenceUnavailable")
    assert (unavailable["status"], unavailable["reason"]) == ("False", "SidecarAnswered")


def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The analysis' back-off delays, recorded instead of slept."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr("smart_sre.lifecycle.analysis.asyncio.sleep", sleep)
    return delays


async def test_a_report_whose_status_does_not_validate_is_analysed_afresh(monkeypatch, caplog):
    """A hand-edited status (a phase that does not exist, half a condition) is read as unwritten:
    the report is analysed again instead of the operator failing on it; valid fields are kept."""
    hostile = {
        "phase": "Exploded",
        "conditions": [{"type": "Queued"}],
        "timings": {"startedAt": "2026-01-05T11:00:00Z"},
    }
    report, events, phases = await analyse(result(patch=True), monkeypatch, status=hostile)
    status = report["status"]
    assert status["phase"] == "AwaitingApproval"
    assert phases == ["Analyzing", "AwaitingApproval"]
    assert status["timings"]["startedAt"] == "2026-01-05T11:00:00Z"
    queued = next(c for c in status["conditions"] if c["type"] == "Queued")
    assert (queued["status"], queued["reason"]) == ("False", "SlotAcquired")
    assert events == ["Analyzed"]
    ignored = [r for r in caplog.records if r.getMessage().startswith("report status fields ignored")]
    assert ignored
    assert ignored[0].fields == "phase,conditions"
    assert ignored[0].report == "web-crashloopbackoff-0123456789"
