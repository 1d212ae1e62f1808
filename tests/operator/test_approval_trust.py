"""Nothing changes unless a human approved exactly this change, after smart-sre showed it.

Everyone who can write a report's status could otherwise choose what the operator patches, so each
refusal here is an attack that was reproduced: a status forged in another namespace, an approved
report re-opened with new operations under the old sha256, a seal that does not match, an approval
written before the suggestion existed.
"""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from smart_sre.api.diagnosticreport import ObservedReport
from smart_sre.lifecycle.approval import MIN_SEAL_KEY_BYTES, Apply, Refuse, SealKey

from .test_approval_checks import (
    KEY,
    MEMORY,
    NAME,
    OPS,
    SHA,
    TARGET,
    approve,
    digest,
    judged,
    report,
    sealed,
)

VICTIM = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "namespace": "victim",
    "name": "payments",
    "uid": "uid-pay",
}
EVIL_OPS = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil:latest"}]


def refused(body: dict[str, Any]) -> Refuse:
    verdict = judged(body)
    assert isinstance(verdict, Refuse), verdict
    return verdict


def forged(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`body` after someone other than the operator wrote `changes` into its suggestedPatch."""
    body = copy.deepcopy(body)
    body["status"]["suggestedPatch"].update(changes)
    return body


def test_a_status_written_by_hand_in_another_namespace_is_refused_and_fails_the_report():
    # A report created in namespace `attacker`, its status written through the status subresource:
    # a suggestion for victim/Deployment payments whose sha256 the attacker computed correctly.
    body = report(approval=approve(digest(EVIL_OPS, VICTIM)), namespace="attacker")
    body["status"]["suggestedPatch"] = {
        "target": VICTIM,
        "operations": EVIL_OPS,
        "sha256": digest(EVIL_OPS, VICTIM),
    }
    verdict = refused(body)
    assert verdict.reason == "SuggestionTampered"
    assert verdict.terminal
    assert "Deployment victim/payments" in verdict.message
    assert "Nothing was applied" in verdict.message


def test_a_target_outside_the_reports_namespace_is_refused_even_when_sealed():
    verdict = refused(report(approval=approve(digest(OPS, VICTIM)), namespace="attacker", target=VICTIM))
    assert verdict.reason == "TargetOutsideNamespace"
    assert verdict.terminal
    assert "outside this report's namespace attacker" in verdict.message


def test_an_applied_report_reopened_with_new_operations_under_the_old_sha_is_refused():
    applied = report("Applied", approve())
    assert judged(applied) is None
    reopened = forged(applied, operations=EVIL_OPS)  # the old sha256 stays, and so does the approval
    reopened["status"]["phase"] = "AwaitingApproval"
    verdict = refused(reopened)
    assert verdict.reason == "SuggestionTampered"
    assert verdict.terminal


def test_the_pinned_sha_is_recomputed_not_read_from_the_status():
    # Even a suggestion the operator itself sealed is applied only if the approval pins a digest of
    # what it holds now, whatever its stored sha256 says.
    body = report(approval=approve())
    body["status"]["suggestedPatch"]["operations"] = [{"op": "replace", "path": MEMORY, "value": "128Mi"}]
    verdict = refused(sealed(body))
    assert verdict.reason == "PatchSHA256Mismatch"
    assert SHA in verdict.message


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda s: s["suggestedPatch"].update(seal="0" * 64), id="seal"),
        pytest.param(lambda s: s["suggestedPatch"].pop("seal"), id="no-seal"),
        pytest.param(lambda s: s["suggestedPatch"]["target"].update(name="payments"), id="target"),
        pytest.param(lambda s: s["suggestedPatch"]["operations"][1].update(value="1Mi"), id="operations"),
        pytest.param(lambda s: s["rollbackPatch"]["operations"][1].update(value="1Ti"), id="rollback"),
        pytest.param(lambda s: s["suggestedPatch"]["dryRun"].update(message="ok"), id="dry-run"),
        pytest.param(lambda s: s.update(suggestedAt="2026-01-05T09:00:00Z"), id="suggested-at"),
    ],
)
def test_any_change_to_a_sealed_suggestion_is_refused(tamper):
    body = report(approval=approve())
    body["status"]["suggestedPatch"]["dryRun"] = {"passed": True}
    body = sealed(body)
    assert isinstance(judged(body), Apply)
    tamper(body["status"])
    body["status"]["suggestedPatch"]["sha256"] = digest(
        body["status"]["suggestedPatch"]["operations"], body["status"]["suggestedPatch"]["target"]
    )
    verdict = refused(body)
    assert verdict.reason == "SuggestionTampered"
    assert "delete the report" in verdict.message


def test_a_sealed_suggestion_copied_to_another_report_is_refused():
    body = report(approval=approve())
    body["metadata"]["uid"] = "uid-another-report"
    assert refused(body).reason == "SuggestionTampered"


def test_a_suggestion_sealed_with_another_key_is_refused():
    other = SealKey(b"some other operator's key, 32 bytes")
    assert refused(sealed(report(approval=approve()), key=other)).reason == "SuggestionTampered"


def test_an_approval_written_before_the_suggestion_was_shown_does_not_count():
    early = refused(report(approval=approve(), approved="2026-01-05T09:59:59Z"))
    assert early.reason == "ApprovalPredatesSuggestion"
    assert not early.terminal  # a human may approve it now
    assert "2026-01-05T10:00:00" in early.message
    assert f"kubectl sre show {NAME}" in early.message
    assert '"approval":null' in early.message
    # Within the second the API server records, the approval counts.
    assert isinstance(judged(report(approval=approve(), approved="2026-01-05T10:00:00Z")), Apply)


def test_an_approval_without_a_recorded_time_does_not_count():
    verdict = refused(report(approval=approve(), approved=None))
    assert verdict.reason == "ApprovalUndated"
    assert "managedFields" in verdict.message


def test_publishing_records_when_the_suggestion_was_shown():
    body = report()
    assert body["status"]["suggestedAt"] == "2026-01-05T10:00:00Z"
    assert len(body["status"]["suggestedPatch"]["seal"]) == 64
    assert body["status"]["suggestedPatch"]["target"] == TARGET


def test_the_seal_key_file_is_created_once_readable_by_its_owner_only(tmp_path: Path):
    path = tmp_path / "state" / "seal.key"
    first = SealKey.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SealKey.load(path) == first  # kept across restarts
    assert len(path.read_bytes()) >= MIN_SEAL_KEY_BYTES
    assert path.read_text().strip() not in repr(first)  # never logged by accident
    assert os.listdir(path.parent) == ["seal.key"]  # no temporary file left behind


def test_a_short_seal_key_is_refused(tmp_path: Path):
    path = tmp_path / "seal.key"
    path.write_bytes(b"too short\n")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        SealKey.load(path)


def test_the_seal_is_stable_across_number_encodings():
    # Go's JSON writes 2.0 as 2: a suggestion read back from a real API server must still verify.
    body = report(approval=approve())
    body["status"]["suggestedPatch"]["operations"] = [
        {"op": "replace", "path": "/spec/replicas", "value": 2.0}
    ]
    body["status"]["suggestedPatch"]["sha256"] = digest(
        [{"op": "replace", "path": "/spec/replicas", "value": 2.0}]
    )
    body = sealed(body)
    body["status"]["suggestedPatch"]["operations"][0]["value"] = 2
    body["spec"]["approval"]["patchSHA256"] = body["status"]["suggestedPatch"]["sha256"]
    assert KEY.sealed(ObservedReport.model_validate(body))
    assert isinstance(judged(body), Apply)
