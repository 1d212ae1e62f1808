"""Several approvers, each in their own name: the admission policy keeps every entry of spec.approvals
its own user's, with the real API server (the sandbox's ValidatingAdmissionPolicy support) and the real
kubectl as alice, mallory and the administrator (fixtures of test_e2e_approver_identity).
"""

from __future__ import annotations

import json

import pytest

from .reading import report_now
from .test_e2e_approver_identity import DENIED, REPORT, approve_as_self, as_user, on_call, scene, whoami

pytestmark = [pytest.mark.e2e, pytest.mark.kubectl]
__all__ = ["on_call", "scene"]  # the fixtures, used by name


def entry(sandbox, kubeconfig, sha256: str, *, name: str | None = None) -> dict:
    me = whoami(sandbox, kubeconfig)
    return {
        "decision": "Approved",
        "patchSHA256": sha256,
        "approvedBy": name or me["username"],
        "approverGroups": me["groups"],
    }


def write_entries(sandbox, kubeconfig, entries: list[dict]):
    body = json.dumps({"spec": {"approvals": entries}})
    return as_user(sandbox, kubeconfig, "patch", "dr", REPORT, "--type", "merge", "-p", body)


def test_each_approver_adds_only_their_own_entry(sandbox, scene) -> None:
    approve_as_self(sandbox, scene.alice, scene.sha256)  # the first decision, spec.approval
    mallory = entry(sandbox, scene.mallory, scene.sha256)
    added = write_entries(sandbox, scene.mallory, [mallory])
    assert added.returncode == 0, added.stderr

    # alice writes a second entry under bob's name: refused, and so is rewriting mallory's.
    forged = entry(sandbox, scene.alice, scene.sha256, name="bob")
    refused = write_entries(sandbox, scene.alice, [mallory, forged])
    assert refused.returncode == 1
    assert refused.stderr == DENIED + (
        "an entry of spec.approvals may be added or changed only by the user it names, with groups they "
        'are in: yours is approvedBy "alice"\n'
    )
    rejected_for_her = {**mallory, "decision": "Rejected"}
    del rejected_for_her["patchSHA256"]
    assert write_entries(sandbox, scene.alice, [rejected_for_her]).stderr.startswith(
        DENIED + "an entry of spec.approvals may be added or changed only by the user it names"
    )
    # Nor may alice withdraw mallory's entry.
    removed = write_entries(sandbox, scene.alice, [])
    assert removed.stderr == DENIED + (
        'an entry of spec.approvals may be removed only by the user it names; "alice" may remove only theirs\n'
    )

    # Her own entry next to mallory's unchanged one is admitted, without clobbering it.
    mine = write_entries(sandbox, scene.alice, [mallory, entry(sandbox, scene.alice, scene.sha256)])
    assert mine.returncode == 0, mine.stderr
    spec = report_now(sandbox, REPORT)["spec"]
    assert [e["approvedBy"] for e in spec["approvals"]] == ["mallory", "alice"]
    assert spec["approval"]["approvedBy"] == "alice"

    # Group borrowing is refused in an entry as in spec.approval.
    borrowed = {**entry(sandbox, scene.mallory, scene.sha256), "approverGroups": ["system:masters"]}
    assert write_entries(sandbox, scene.mallory, [borrowed, spec["approvals"][1]]).returncode == 1
