"""The audit trail: one record per closed report, with what an auditor asks for, on one line whatever
the report holds, written once, appended to a file that is never truncated, and always written before
retention deletes the report."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from smart_sre.api.diagnosticreport import ObservedReport, canonical_json
from smart_sre.lifecycle.approval import SealKey
from smart_sre.lifecycle.audit import (
    ANNOTATION_RECORD,
    ANNOTATION_RECORDED_AT,
    AuditFile,
    AuditTrail,
    line_of,
    record_of,
)
from smart_sre.lifecycle.controller import Controller, ControllerSettings
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import PolicyBook

from .test_notifications import HOSTILE, NOW, SHA, UID, NoInvestigation, applied

KEY = SealKey(b"k" * 32)
OBSERVATIONS = ["0/3 nodes are available: 3 Insufficient memory.", "ledger requests 64Gi; nodes have 16Gi."]


def audited(**kwargs: Any) -> dict[str, Any]:
    """The seed's Pending report, approved by alice, applied and verified."""
    body = applied(**kwargs)
    body["spec"]["approval"] = {
        "decision": "Approved",
        "action": "Apply",
        "patchSHA256": SHA,
        "approvedBy": "alice",
        "approverGroups": ["sre"],
    }
    body["spec"]["approvals"] = [
        {
            "decision": "Approved",
            "action": "Apply",
            "patchSHA256": SHA,
            "approvedBy": "bob",
            "approverGroups": ["sre"],
        }
    ]
    body["metadata"]["managedFields"] = [
        {
            "manager": "kubectl-sre",
            "operation": "Update",
            "time": "2026-01-05T12:03:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:approval": {}}},
        }
    ]
    status = body["status"]
    status["reasoningChain"] = [
        {"index": index, "observation": observation} for index, observation in enumerate(OBSERVATIONS)
    ]
    status["model"] = {"name": "gemma-3-270m-q4_k_m", "sha256": "b" * 64}
    status["conditions"].append(
        {
            "type": "Notified",
            "status": "True",
            "reason": "Delivered",
            "message": "delivered",
            "lastTransitionTime": "2026-01-05T12:09:00Z",
        }
    )
    return body


class Reports:
    """The API server's copy of each report: annotation patches merged in, deletions kept in order."""

    def __init__(self, *bodies: dict[str, Any]) -> None:
        self.bodies = {body["metadata"]["name"]: copy.deepcopy(body) for body in bodies}
        self.calls: list[tuple[str, str]] = []

    async def patch_report(self, namespace: str, name: str, body: dict, *, field_manager: str) -> dict:
        self.calls.append(("patch", name))
        self.bodies[name]["metadata"].setdefault("annotations", {}).update(body["metadata"]["annotations"])
        return self.bodies[name]

    async def delete_report(self, namespace: str, name: str) -> None:
        self.calls.append(("delete", name))
        del self.bodies[name]

    async def patch_policy_status(self, name: str, status: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def now(self, name: str) -> ObservedReport:
        return ObservedReport.model_validate(self.bodies[name])


def trail(reports: Reports, path: Path | None) -> AuditTrail:
    return AuditTrail(
        reports,  # type: ignore[arg-type]
        seal_key=KEY,
        file=AuditFile(path) if path else None,
        clock=lambda: NOW + timedelta(minutes=10),
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- The record -------------------------------------------------------------------------------------------


def test_the_record_holds_what_an_auditor_asks_for() -> None:
    record = json.loads(line_of(record_of(ObservedReport.model_validate(audited()))))
    assert record["kind"] == "DiagnosticReportAuditRecord"
    assert record["report"] == {
        "namespace": "default",
        "name": "ledger-pending-5d8f",
        "uid": UID,
        "createdAt": "2026-01-05T12:00:00Z",
    }
    assert (record["policy"], record["trigger"], record["phase"]) == ("seed", "Pending", "Applied")
    assert record["findings"]["rootCause"] == "InsufficientResources"
    assert [step["observation"] for step in record["reasoningChain"]] == OBSERVATIONS
    assert (
        record["evidenceDigest"]
        == hashlib.sha256(json.dumps(OBSERVATIONS, separators=(",", ":")).encode()).hexdigest()
    )
    assert record["suggestedPatch"]["sha256"] == SHA
    assert record["suggestedPatch"]["target"]["name"] == "ledger"
    assert record["approval"] == {
        "decision": "Approved",
        "action": "Apply",
        "patchSHA256": SHA,
        "approvedBy": "alice",
        "approverGroups": ["sre"],
    }
    assert [(a["approvedBy"], a["patchSHA256"]) for a in record["approvals"]] == [("bob", SHA)]  # four eyes
    assert record["approvedBy"] == "alice"
    assert record["times"] == {
        "openedAt": "2026-01-05T12:00:00Z",
        "suggestedAt": "2026-01-05T12:00:00Z",
        "approvedAt": "2026-01-05T12:03:00Z",
        "finishedAt": "2026-01-05T12:00:00Z",
        "verifiedAt": "2026-01-05T12:00:00Z",
    }
    assert record["verification"]["result"] == "Verified"
    assert record["model"] == {"name": "gemma-3-270m-q4_k_m", "sha256": "b" * 64}
    assert [c["type"] for c in record["conditions"]] == ["PatchApplied"]  # Notified is no decision
    # The digest is the sha256 of the record's canonical JSON without recordedAt and digest.
    digest = record.pop("digest")
    assert digest == hashlib.sha256(canonical_json(record).encode()).hexdigest()


def test_hostile_text_from_the_cluster_stays_on_one_ascii_line() -> None:
    """A summary or observation with newlines, escapes and line separators cannot split the record or
    forge a second one; it reads back exactly as the report holds it."""
    body = audited(summary=HOSTILE + '"}\n{"kind":"DiagnosticReportAuditRecord"\u2028\u0085')
    body["status"]["reasoningChain"][0]["observation"] = "log: \x1b]8;;http://x\x07click\x1b]8;;\x07\r\n"
    line = line_of(record_of(ObservedReport.model_validate(body)))
    assert line.isascii()
    assert all(char.isprintable() for char in line)
    parsed = json.loads(line)
    assert parsed["findings"]["summary"] == body["status"]["findings"]["summary"]
    assert parsed["reasoningChain"][0]["observation"] == body["status"]["reasoningChain"][0]["observation"]


# --- Once, and marked -------------------------------------------------------------------------------------


async def test_a_closed_report_is_recorded_once_and_a_restart_does_not_record_it_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    reports = Reports(audited())
    audit = trail(reports, path)
    assert audit.due(reports.now("ledger-pending-5d8f"))
    await audit.record(reports.now("ledger-pending-5d8f"))
    await audit.record(reports.now("ledger-pending-5d8f"))  # a second look at the same state
    await audit.record(ObservedReport.model_validate(audited()))  # a stale copy without the marks
    (record,) = lines(path)
    annotations = reports.bodies["ledger-pending-5d8f"]["metadata"]["annotations"]
    assert annotations[ANNOTATION_RECORDED_AT] == record["recordedAt"] == "2026-01-05T12:10:00Z"
    assert annotations[ANNOTATION_RECORD].startswith(f"sha256={record['digest']},seal=")
    assert not audit.due(reports.now("ledger-pending-5d8f"))
    assert not trail(reports, path).due(reports.now("ledger-pending-5d8f"))  # a restarted operator


async def test_a_mark_not_written_by_the_operator_does_not_count(tmp_path: Path) -> None:
    """Someone who may patch reports cannot mark one recorded so that retention skips its record."""
    path = tmp_path / "audit.jsonl"
    body = audited()
    digest = record_of(ObservedReport.model_validate(body)).digest
    body["metadata"]["annotations"] = {
        ANNOTATION_RECORDED_AT: "2026-01-05T12:10:00Z",
        ANNOTATION_RECORD: f"sha256={digest},seal={'0' * 64}",
    }
    reports = Reports(body)
    audit = trail(reports, path)
    assert audit.due(reports.now("ledger-pending-5d8f"))
    await audit.record(reports.now("ledger-pending-5d8f"))
    assert len(lines(path)) == 1


async def test_a_report_that_changes_after_its_record_is_recorded_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    reports = Reports(audited())
    audit = trail(reports, path)
    await audit.record(reports.now("ledger-pending-5d8f"))
    rolled_back = reports.bodies["ledger-pending-5d8f"]["status"]
    rolled_back["conditions"].append(
        {
            "type": "RolledBack",
            "status": "True",
            "reason": "Applied",
            "message": "patched Deployment/ledger (sha256 fedcba987654)",
            "lastTransitionTime": "2026-01-05T13:00:00Z",
        }
    )
    assert audit.due(reports.now("ledger-pending-5d8f"))
    await audit.record(reports.now("ledger-pending-5d8f"))
    first, second = lines(path)
    assert first["digest"] != second["digest"]
    assert [c["type"] for c in second["conditions"]] == ["PatchApplied", "RolledBack"]


async def test_each_record_is_one_info_line_on_the_audit_logger(caplog: pytest.LogCaptureFixture) -> None:
    reports = Reports(audited())
    with caplog.at_level(logging.INFO, logger="smart_sre.audit"):
        await trail(reports, None).record(reports.now("ledger-pending-5d8f"))
    (entry,) = [r for r in caplog.records if r.name == "smart_sre.audit"]
    assert entry.levelno == logging.INFO
    assert "\n" not in entry.getMessage()
    assert json.loads(entry.getMessage())["report"]["uid"] == UID


# --- The file ---------------------------------------------------------------------------------------------


def test_the_file_is_appended_to_never_truncated_and_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"kept":1}\n{"torn":')  # an earlier operator died in the middle of a record
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    AuditFile(path).append('{"n":1}')
    AuditFile(path).append('{"n":2}')  # another instance: a restarted operator
    assert path.read_text() == '{"kept":1}\n{"torn":\n{"n":1}\n{"n":2}\n'
    assert len(synced) == 2


def test_a_new_file_is_created_and_its_name_made_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    AuditFile(path).append('{"n":1}')
    assert path.read_text() == '{"n":1}\n'
    assert len(synced) == 2  # the file, then its directory


# --- Retention waits for the record -----------------------------------------------------------------------


def controller(reports: Reports, path: Path, *, later: timedelta = timedelta(days=30)) -> Controller:
    """The controller `later` after the report closed: by default past the default retention of 168h."""
    return Controller(
        reports,  # type: ignore[arg-type]
        PolicyBook(),
        Metrics(),
        NoInvestigation(),  # type: ignore[arg-type]
        ControllerSettings(audit_file=path),
        clock=lambda: NOW + later,
        seal_key=KEY,
    )


async def test_retention_writes_the_record_first_then_deletes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    reports = Reports(audited())
    operator = controller(reports, path)
    await operator.on_report("ADDED", copy.deepcopy(reports.bodies["ledger-pending-5d8f"]))
    await operator._housekeep_once()
    assert reports.calls == [("patch", "ledger-pending-5d8f"), ("delete", "ledger-pending-5d8f")]
    (record,) = lines(path)
    assert record["report"]["name"] == "ledger-pending-5d8f"


async def test_a_report_whose_record_cannot_be_written_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "missing-volume" / "audit.jsonl"
    reports = Reports(audited())
    operator = controller(reports, path)
    await operator.on_report("ADDED", copy.deepcopy(reports.bodies["ledger-pending-5d8f"]))
    await operator._housekeep_once()
    assert reports.calls == []
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.getMessage() == "audit record not written; the report is kept"
    assert f"could not be appended to {path}" in error.error
    assert "Check the volume behind SMART_SRE_AUDIT_FILE" in error.error

    path.parent.mkdir()  # the volume is back
    await operator._housekeep_once()
    assert reports.calls == [("patch", "ledger-pending-5d8f"), ("delete", "ledger-pending-5d8f")]
    assert len(lines(path)) == 1


async def test_a_closed_report_is_recorded_once_its_fix_is_verified(tmp_path: Path) -> None:
    """Housekeeping records closed reports long before retention, but not an applied fix still being
    verified: its record would miss the outcome."""
    path = tmp_path / "audit.jsonl"
    reports = Reports(audited(verification=None))
    operator = controller(reports, path, later=timedelta(minutes=10))
    body = reports.bodies["ledger-pending-5d8f"]
    operator._reports[("default", "ledger-pending-5d8f")] = ObservedReport.model_validate(body)
    await operator._housekeep_once()
    assert not path.exists()
    body["status"]["verification"] = {"result": "NotVerified", "message": "0/1 pods Ready after 2m"}
    operator._reports[("default", "ledger-pending-5d8f")] = ObservedReport.model_validate(body)
    await operator._housekeep_once()
    (record,) = lines(path)
    assert record["verification"]["result"] == "NotVerified"
    assert reports.calls == [("patch", "ledger-pending-5d8f")]  # recorded, not deleted
    await operator._housekeep_once()
    assert len(lines(path)) == 1
