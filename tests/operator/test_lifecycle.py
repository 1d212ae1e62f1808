import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import kopf
import pytest

from smart_sre.api.common import Phase
from smart_sre.api.diagnosticreport import DiagnosticReport, ObservedReport
from smart_sre.lifecycle.approval import SealKey
from smart_sre.lifecycle.controller import Controller
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import PolicyBook
from smart_sre.lifecycle.reports import (
    LABEL_OCCURRENCE,
    Opening,
    Problem,
    ReportOpener,
    TransitionError,
    Workload,
    build_report,
    check_transition,
    decide_opening,
    expired,
    with_condition,
)
from smart_sre.lifecycle.triggers import Detection, Trigger

from .pods import pod

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
COOLDOWN = timedelta(minutes=10)


def report(name, phase, *, occurrence=1, finished=None) -> ObservedReport:
    status = {"phase": phase}
    if finished:
        status["timings"] = {"finishedAt": finished}
    return ObservedReport.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": "default",
                "labels": {LABEL_OCCURRENCE: str(occurrence)},
                "creationTimestamp": "2026-01-05T09:00:00Z",
            },
            "spec": {
                "podRef": {"name": "web-7d9c-abcde", "uid": "uid-web-7d9c-abcde"},
                "workloadRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": "uid-web",
                },
                "trigger": "CrashLoopBackOff",
                "policyRef": {"name": "seed"},
            },
            "status": status,
        }
    )


def test_first_occurrence_opens():
    assert decide_opening([], COOLDOWN, NOW).occurrence == 1


@pytest.mark.parametrize("phase", ["Pending", "Analyzing", "AwaitingApproval", "Applying"])
def test_open_report_blocks_a_second_one(phase):
    opening = decide_opening([report("r1", phase)], COOLDOWN, NOW)
    assert opening.occurrence is None
    assert opening.existing == "r1"
    assert opening.reason == "AlreadyOpen"


@pytest.mark.parametrize("phase", ["Rejected", "FindingsOnly"])
def test_closed_report_cools_down_then_next_occurrence_opens(phase):
    recent = [report("r1", phase, finished="2026-01-05T11:55:00Z")]
    cooling = decide_opening(recent, COOLDOWN, NOW)
    assert cooling.reason == "CoolingDown"
    assert cooling.retry_at == datetime(2026, 1, 5, 12, 5, tzinfo=UTC)  # when to look at the pod again
    old = [
        report("r1", "Applied", finished="2026-01-05T11:00:00Z"),
        report("r2", "Failed", occurrence=2, finished="2026-01-05T11:30:00Z"),
    ]
    assert decide_opening(old, COOLDOWN, NOW).occurrence == 3


def test_report_body_is_valid_against_the_crd_model_and_deterministic():
    book = PolicyBook()
    book.upsert({"metadata": {"name": "seed"}, "spec": {"rules": [{"namespaces": ["default"]}]}})
    problem = Problem(
        "default", Workload("apps/v1", "Deployment", "web", "uid-web"), Trigger.CRASH_LOOP_BACK_OFF
    )
    body = build_report(problem, pod(), book.get("seed"), occurrence=1).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    DiagnosticReport.model_validate(body)
    assert body["metadata"]["name"] == problem.report_name(1)
    assert body["spec"]["podRef"] == {"name": "web-7d9c-abcde", "uid": "uid-web-7d9c-abcde"}
    sibling = build_report(problem, pod("web-7d9c-other"), book.get("seed"), occurrence=1)
    assert sibling.metadata == DiagnosticReport.model_validate(body).metadata  # another replica: same report


def test_lifecycle_allows_the_documented_path_and_refuses_shortcuts():
    path = [Phase.PENDING, Phase.ANALYZING, Phase.AWAITING_APPROVAL, Phase.APPLYING, Phase.APPLIED]
    for current, new in itertools.pairwise(path):
        check_transition(current, new)
    check_transition(Phase.ANALYZING, Phase.FINDINGS_ONLY)
    for current, new in [
        (Phase.PENDING, Phase.APPLYING),
        (Phase.ANALYZING, Phase.APPLIED),
        (Phase.FINDINGS_ONLY, Phase.APPLYING),
        (Phase.FINDINGS_ONLY, Phase.AWAITING_APPROVAL),
        (Phase.REJECTED, Phase.APPLYING),
        (Phase.STALE, Phase.AWAITING_APPROVAL),
    ]:
        with pytest.raises(TransitionError):
            check_transition(current, new)


def test_condition_transition_time_moves_only_when_status_flips():
    first = with_condition(None, "InferenceUnavailable", True, "SidecarUnreachable", "down", now=NOW)
    later = NOW + timedelta(minutes=1, microseconds=250)
    same = with_condition(first, "InferenceUnavailable", True, "SidecarUnreachable", "still down", now=later)
    assert same[0].last_transition_time == NOW
    assert same[0].message == "still down"
    flipped = with_condition(same, "InferenceUnavailable", False, "SidecarAnswered", "up", now=later)
    assert flipped[0].model_dump(mode="json", by_alias=True)["lastTransitionTime"] == "2026-01-05T12:01:00Z"
    both = with_condition(flipped, "Queued", True, "WaitingForSlot", "busy", now=later)
    assert [c.type for c in both] == ["InferenceUnavailable", "Queued"]
    assert [c.type for c in first] == ["InferenceUnavailable"]  # the input list is left as it was


def test_retention_applies_to_closed_reports_only():
    week = timedelta(hours=168)
    assert expired(report("r", "Applied", finished="2025-12-01T00:00:00Z"), week, NOW)
    assert not expired(report("r", "Applied", finished="2026-01-05T00:00:00Z"), week, NOW)
    assert not expired(report("r", "AwaitingApproval"), week, NOW)
    assert expired(report("r", "FindingsOnly", finished="2025-12-01T00:00:00Z"), week, NOW)
    # A retention shorter than the cooldown does not cut the cooldown short.
    closed_an_hour_ago = report("r", "Rejected", finished="2026-01-05T11:00:00Z")
    assert expired(closed_an_hour_ago, timedelta(minutes=5), NOW)
    assert not expired(closed_an_hour_ago, timedelta(minutes=5), NOW, cooldown=timedelta(hours=2))


class ReportsInTheCluster:
    """The one read the opener makes, counted."""

    def __init__(self, reports: list[dict]) -> None:
        self.reports = reports
        self.lists = 0

    async def list_reports(
        self, namespace: str, *, label_selector: str | None = None
    ) -> list[ObservedReport]:
        self.lists += 1
        return self.reports


async def test_replicas_crashing_through_a_cooldown_cost_one_read_until_it_ends():
    book = PolicyBook()
    book.upsert(
        {"metadata": {"name": "seed"}, "spec": {"rules": [{"namespaces": ["default"]}], "cooldown": "10m"}}
    )
    problem = Problem(
        "default", Workload("apps/v1", "Deployment", "web", "uid-web"), Trigger.CRASH_LOOP_BACK_OFF
    )
    cluster = ReportsInTheCluster([report("r1", "Rejected", finished="2026-01-05T11:55:00Z")])
    now = [NOW]
    opener = ReportOpener(cluster, Metrics(), clock=lambda: now[0])  # type: ignore[arg-type]
    detection = Detection(Trigger.CRASH_LOOP_BACK_OFF, "CrashLoopBackOff", "back-off")
    for replica in ("web-7d9c-a", "web-7d9c-b", "web-7d9c-c"):
        opening = await opener.open(problem, pod(replica), book.get("seed"), detection)
        assert (opening.reason, opening.retry_at) == ("CoolingDown", datetime(2026, 1, 5, 12, 5, tzinfo=UTC))
    assert cluster.lists == 1
    now[0] = NOW + timedelta(minutes=6)  # past the cooldown: the cluster is asked again
    cluster.reports = [report("r1", "Rejected", finished="2026-01-05T12:04:00Z")]  # closed again since
    assert (await opener.open(problem, pod(), book.get("seed"), detection)).reason == "CoolingDown"
    assert cluster.lists == 2


def test_a_status_that_does_not_validate_counts_as_unwritten_field_by_field(caplog):
    """An unknown phase reads as Pending, so the problem's report stays the open one (no duplicate)."""
    hostile = report("r1", "Exploded", finished="2026-01-05T11:55:00Z")
    assert hostile.status.phase is None
    assert hostile.status.timings is not None  # the fields that do validate are kept
    assert decide_opening([hostile], COOLDOWN, NOW).reason == "AlreadyOpen"
    assert [r.fields for r in caplog.records] == ["phase"]


@pytest.mark.parametrize("status", [None, "Exploded", ["phase", "Pending"]])
def test_a_status_that_is_not_an_object_reads_as_empty(status):
    body = report("r1", "Pending").model_dump(mode="json", by_alias=True, exclude_none=True)
    assert ObservedReport.model_validate({**body, "status": status}).status.phase is None


def test_of_a_patch_and_a_reason_written_together_the_patch_is_kept():
    """The CRD allows only one; the approval still has to pin the patch's sha256 to apply it."""
    body = report("r1", "AwaitingApproval").model_dump(mode="json", by_alias=True, exclude_none=True)
    body["status"]["noPatchReason"] = "the fix is outside the workload"
    body["status"]["suggestedPatch"] = {
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web"},
        "operations": [{"op": "replace", "path": "/spec/replicas", "value": 2}],
        "sha256": "a" * 64,
    }
    status = ObservedReport.model_validate(body).status
    assert status.phase == Phase.AWAITING_APPROVAL
    assert status.suggested_patch is not None
    assert status.suggested_patch.sha256 == "a" * 64
    assert status.no_patch_reason is None


class NoInvestigation:
    """The controller needs an investigator; these tests never start an analysis."""

    unavailable = (ConnectionError,)

    async def close(self) -> None:
        pass


async def test_the_report_watch_keeps_a_report_whose_status_does_not_validate(caplog):
    """A report with a hand-edited status still holds its problem: no second report is opened for it,
    and the ignored fields are logged. One whose spec does not validate (the API server would not
    store it) is logged and skipped, never crashing the watch."""
    seed = PolicyBook()
    seed.upsert({"metadata": {"name": "seed"}, "spec": {"rules": [{"namespaces": ["default"]}]}})
    problem = Problem(
        "default", Workload("apps/v1", "Deployment", "web", "uid-web"), Trigger.CRASH_LOOP_BACK_OFF
    )
    cluster = ReportsInTheCluster([])
    # The controller's own book is empty, so it starts no analysis of the report here.
    controller = Controller(
        cluster,  # type: ignore[arg-type]
        PolicyBook(),
        Metrics(),
        NoInvestigation(),  # type: ignore[arg-type]
        seal_key=SealKey(b"k" * 32),
    )
    body = build_report(problem, pod(), seed.get("seed"), occurrence=1).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    await controller.on_report("ADDED", {**body, "spec": {"trigger": "Sneezing"}})
    assert [r.getMessage() for r in caplog.records] == ["report ignored: it does not validate"]

    await controller.on_report("ADDED", {**body, "status": {"phase": "Exploded", "conditions": [{}]}})
    detection = Detection(Trigger.CRASH_LOOP_BACK_OFF, "CrashLoopBackOff", "back-off")
    opening = await controller.opener.open(problem, pod("web-7d9c-b"), seed.get("seed"), detection)
    assert (opening.reason, opening.existing) == ("AlreadyOpen", problem.report_name(1))
    assert cluster.lists == 0
    assert caplog.records[-1].fields == "phase,conditions"


class RecordingOpener:
    """Answers every opening with "cooling down" and remembers which pods asked."""

    def __init__(self, retry_at: datetime | None = None) -> None:
        self.asked: list[str] = []
        self.retry_at = retry_at

    def observe(self, report: ObservedReport, *, deleted: bool = False) -> None:
        pass

    async def open(self, problem, pod, policy, detection):
        self.asked.append(pod["metadata"]["name"])
        return Opening(None, "CoolingDown", retry_at=self.retry_at)


class QuietCluster(ReportsInTheCluster):
    """Housekeeping's other writes (policy status) succeed and are ignored."""

    async def patch_policy_status(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


async def test_housekeeping_looks_again_at_a_pending_pod_whose_recheck_timer_is_not_set():
    """A Pending pod sends no event when its problem's cooldown ends. If the re-check timer was lost
    (never set, or its evaluation failed), the next housekeeping round still evaluates the pod, so its
    next report opens; a pod whose timer is due is left to the timer."""
    controller, opener = quiet_controller("Pending", lambda: NOW)
    stuck = pod("stuck", phase="Pending", owner=None, unschedulable_since="2026-01-05T11:00:00Z")
    await controller.on_pod("ADDED", stuck)
    assert opener.asked == ["stuck"]  # the event itself; cooling down with no retry time: no timer
    await controller._housekeep_once()
    assert opener.asked == ["stuck", "stuck"]

    opener.retry_at = NOW + timedelta(hours=1)
    await controller.on_pod("MODIFIED", stuck)  # now a timer is due
    await controller._housekeep_once()
    assert opener.asked == ["stuck"] * 3
    await controller.close()


def quiet_controller(trigger: str, clock: Callable[[], datetime]) -> tuple[Controller, RecordingOpener]:
    """A controller under one policy watching `trigger` in `default` (grace 1 s), on a cluster with no
    reports, whose opener only records the pods it is asked about."""
    book = PolicyBook()
    book.upsert(
        {
            "metadata": {"name": "seed"},
            "spec": {
                "rules": [{"namespaces": ["default"]}],
                "triggers": [trigger],
                "pendingGracePeriod": "1s",
            },
        }
    )
    controller = Controller(
        QuietCluster([]),  # type: ignore[arg-type]
        book,
        Metrics(),
        NoInvestigation(),  # type: ignore[arg-type]
        clock=clock,
        seal_key=SealKey(b"k" * 32),
    )
    opener = RecordingOpener()
    controller.opener = opener  # type: ignore[assignment]
    return controller, opener


class CreatingCluster(ReportsInTheCluster):
    """Also takes the opener's create and first status write, remembering what was created."""

    def __init__(self, reports: list[dict]) -> None:
        super().__init__(reports)
        self.created: list[DiagnosticReport] = []

    async def create_report(self, report: DiagnosticReport) -> DiagnosticReport:
        self.created.append(report)
        return report

    async def patch_report_status(self, report, status) -> None:
        pass


async def test_a_problem_that_outlives_its_deleted_report_opens_the_next_occurrence_not_the_same_name(
    monkeypatch,
):
    """Retention deleted the closed report just as the cooldown ended (retention == cooldown): the pod,
    still failing, gets occurrence 2, never a second report named like the first."""
    book = PolicyBook()
    book.upsert(
        {"metadata": {"name": "seed"}, "spec": {"rules": [{"namespaces": ["default"]}], "cooldown": "10m"}}
    )
    problem = Problem(
        "default", Workload("apps/v1", "Deployment", "web", "uid-web"), Trigger.CRASH_LOOP_BACK_OFF
    )
    first = build_report(problem, pod(), book.get("seed"), occurrence=1).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    first["status"] = {"phase": "Rejected", "timings": {"finishedAt": "2026-01-05T11:00:00Z"}}
    closed = ObservedReport.model_validate(first)
    cluster = CreatingCluster([])  # the first report is gone from the cluster
    opener = ReportOpener(cluster, Metrics(), clock=lambda: NOW)  # type: ignore[arg-type]
    opener.observe(closed)
    opener.observe(closed, deleted=True)
    detection = Detection(Trigger.CRASH_LOOP_BACK_OFF, "CrashLoopBackOff", "back-off")
    decided = decide_opening([], COOLDOWN, NOW, last_occurrence=1)
    assert (decided.occurrence, decided.reason) == (2, "Opened")
    assert decide_opening([closed], COOLDOWN, NOW + COOLDOWN * 10, last_occurrence=0).occurrence == 2
    monkeypatch.setattr(kopf, "warn", lambda *args, **kwargs: None)  # Kubernetes events need Kopf running
    monkeypatch.setattr(kopf, "info", lambda *args, **kwargs: None)
    opening = await opener.open(problem, pod(), book.get("seed"), detection)
    assert (opening.occurrence, opening.reason) == (2, "Opened")
    assert [r.metadata.name for r in cluster.created] == [problem.report_name(2)]
