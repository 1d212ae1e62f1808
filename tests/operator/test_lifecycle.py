import itertools
from datetime import UTC, datetime, timedelta

import pytest

from smart_sre.api.common import Phase
from smart_sre.api.diagnosticreport import DiagnosticReport
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import PolicyBook
from smart_sre.lifecycle.reports import (
    LABEL_OCCURRENCE,
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


def report(name, phase, *, occurrence=1, finished=None):
    status = {"phase": phase}
    if finished:
        status["timings"] = {"finishedAt": finished}
    return {
        "metadata": {
            "name": name,
            "labels": {LABEL_OCCURRENCE: str(occurrence)},
            "creationTimestamp": "2026-01-05T09:00:00Z",
        },
        "status": status,
    }


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
    body = build_report(problem, pod(), book.get("seed"), occurrence=1)
    DiagnosticReport.model_validate(body)
    assert body["metadata"]["name"] == problem.report_name(1)
    sibling = build_report(problem, pod("web-7d9c-other"), book.get("seed"), occurrence=1)
    assert sibling["metadata"] == body["metadata"]  # another replica of the same Deployment: same report


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
    later = NOW + timedelta(minutes=1)
    same = with_condition(first, "InferenceUnavailable", True, "SidecarUnreachable", "still down", now=later)
    assert same[0]["lastTransitionTime"] == "2026-01-05T12:00:00Z"
    assert same[0]["message"] == "still down"
    flipped = with_condition(same, "InferenceUnavailable", False, "SidecarAnswered", "up", now=later)
    assert flipped[0]["lastTransitionTime"] == "2026-01-05T12:01:00Z"
    both = with_condition(flipped, "Queued", True, "WaitingForSlot", "busy", now=later)
    assert [c["type"] for c in both] == ["InferenceUnavailable", "Queued"]


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

    async def list_reports(self, namespace: str, *, label_selector: str | None = None) -> list[dict]:
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
