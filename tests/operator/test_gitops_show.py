"""`kubectl sre show NAME --as-kustomize-patch | --as-json6902`: the suggested fix as a file to commit.

The plugin runs for real (`main`) against the fake API client of test_kubectl_sre_review.py. The report's
status may have been written by anyone who can write it, so its `managedBy` is also forged with text
that would break out of a YAML comment and drive a terminal.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from smart_sre.commands import kubectl_sre

from .test_approval_checks import MEMORY, NAME, report
from .test_kubectl_sre_review import FakeCluster

TRACKING_ID = "argocd.argoproj.io/tracking-id"
MANAGED_BY = {
    "tool": "ArgoCD",
    "kind": "Application",
    "name": "shop",
    "namespace": "argocd",
    "certain": True,
    "evidence": f"annotation {TRACKING_ID} on Deployment web",
    "note": "Managed by Argo CD Application argocd/shop: commit the fix instead.",
}


def stored(**status: Any) -> dict[str, Any]:
    body = copy.deepcopy(report())
    body["status"] |= status
    return body


def show(monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], *flags: str) -> int:
    monkeypatch.setattr(kubectl_sre.ClusterWriter, "from_config", lambda *args: FakeCluster(body, None))
    return kubectl_sre.main(["show", NAME, "-n", "default", *flags])


def test_the_kustomize_patch_names_the_report_the_tool_and_the_change(monkeypatch, capsys) -> None:
    assert show(monkeypatch, stored(managedBy=MANAGED_BY), "--as-kustomize-patch") == 0
    out = capsys.readouterr().out
    sha = report()["status"]["suggestedPatch"]["sha256"]
    assert out.startswith(
        f"# The fix smart-sre suggested in DiagnosticReport default/{NAME} for Deployment default/web "
        f"(the live patch, guards included, has sha256 {sha}).\n"
        f"# Argo CD Application argocd/shop deploys it (annotation {TRACKING_ID} on Deployment web): "
        "commit this, do not patch it live.\n"
    )
    document = yaml.safe_load(out)
    assert document["kind"] == "Kustomization"
    (entry,) = document["patches"]
    assert entry["target"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "name": "web",
        "namespace": "default",
    }
    assert yaml.safe_load(entry["patch"]) == [{"op": "replace", "path": MEMORY, "value": "256Mi"}]


def test_forged_evidence_stays_inside_its_comment_and_off_the_terminal(monkeypatch, capsys) -> None:
    forged = {**MANAGED_BY, "evidence": "x\nkind: Pod\n\x1b]0;owned\x07patches: []"}
    assert show(monkeypatch, stored(managedBy=forged), "--as-kustomize-patch") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "(x\\x0akind: Pod\\x0a\\x1b]0;owned\\x07patches: []): commit this" in out
    document = yaml.safe_load(out)
    assert document["kind"] == "Kustomization"
    assert len(document["patches"]) == 1


def test_the_json6902_file_is_the_change_without_its_test_guards(monkeypatch, capsys) -> None:
    assert show(monkeypatch, stored(), "--as-json6902") == 0
    assert json.loads(capsys.readouterr().out) == [{"op": "replace", "path": MEMORY, "value": "256Mi"}]


def test_a_report_without_a_patch_has_nothing_to_commit(monkeypatch, capsys) -> None:
    assert show(monkeypatch, report("FindingsOnly", patch=False), "--as-kustomize-patch") == 1
    assert capsys.readouterr().err == (
        f"error: {NAME} has no suggested patch to commit: the root cause is outside the workload\n"
    )


def test_one_output_at_a_time(monkeypatch, capsys) -> None:
    with pytest.raises(SystemExit) as usage:
        show(monkeypatch, stored(), "--as-json6902", "-o", "yaml")
    assert usage.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_review_says_who_deploys_it_and_how_to_commit_the_fix(monkeypatch, capsys) -> None:
    body = stored(managedBy=MANAGED_BY)
    monkeypatch.setattr(kubectl_sre.ClusterWriter, "from_config", lambda *args: FakeCluster(body, None))
    assert kubectl_sre.main(["show", NAME, "-n", "default"]) == 0
    out = capsys.readouterr().out
    assert "\nGitOps\n  Managed by Argo CD Application argocd/shop: commit the fix instead.\n" in out
    assert f"\nCommit it to Git with: kubectl sre show {NAME} --as-kustomize-patch\n" in out
