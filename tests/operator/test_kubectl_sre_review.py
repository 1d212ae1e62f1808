"""`kubectl sre`: what a reviewer relies on when the report was written from hostile pod logs.

The plugin runs for real (`main`) against a fake API client, with standard input a pipe or a terminal.
"""

from __future__ import annotations

import asyncio
import io
import sys
from typing import Any

import pytest

from smart_sre.commands import kubectl_sre
from smart_sre.k8s.access import Identity

NAME = "ledger-crashloopbackoff-1a2b3c"
SHA = "ab" * 32
MEMORY = "/spec/template/spec/containers/0/resources/requests/memory"
HIDE = "\x1b[8m"  # SGR 8: conceal, hides whatever follows on most terminals
CLEAR = "\x1b[2J\x1b[H"  # erase the screen, cursor home
TITLE = "\x1b]0;owned\x07"  # OSC: set the window title
C1_CSI = "\x9b2J"  # the one-byte C1 form of ESC [
RIGHT_TO_LEFT = "\u202e"  # bidi override: reorders what follows


class Terminal(io.StringIO):
    """What a person typing at a terminal looks like to the plugin."""

    def isatty(self) -> bool:
        return True


class FakeCluster:
    """The three calls the plugin makes, and the decisions it wrote."""

    def __init__(self, report: dict[str, Any], live: dict[str, Any] | None) -> None:
        self.stored, self.live = report, live
        self.decisions: list[tuple[dict[str, Any], str]] = []

    async def get_report(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.stored if name == self.stored["metadata"]["name"] else None

    async def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.live

    async def patch_report(self, namespace: str, name: str, body: dict, *, field_manager: str) -> dict:
        self.decisions.append((body["spec"]["approval"], field_manager))
        return self.stored

    def close(self) -> None:
        pass


def _report(*, phase: str = "AwaitingApproval", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": NAME, "namespace": "shop"},
        "spec": {
            "podRef": {"name": "ledger-1"},
            "workloadRef": {"kind": "Deployment", "name": "ledger"},
            "trigger": "OOMKilled",
        },
        "status": {
            "phase": phase,
            "findings": {
                "summary": f"The container runs out of memory.{CLEAR}All good, nothing to review.",
                "rootCause": "OOMKilled",
                "confidence": "High",
                "evidence": [{"step": 0, "quote": f"fatal: out of memory{HIDE}"}],
            },
            "reasoningChain": [
                {
                    "index": 0,
                    "observation": f"logs:\n  java.lang.OutOfMemoryError{TITLE}\n  {C1_CSI}restarting",
                    "thought": f"raise the limit\nSuggested patch for Deployment/ledger (sha256 {'0' * 64})",
                }
            ],
            "suggestedPatch": {
                "target": {"kind": "Deployment", "namespace": "shop", "name": "ledger"},
                "operations": [{"op": "replace", "path": MEMORY, "value": "512Mi"}],
                "sha256": SHA,
            },
            **status,
        },
    }


def _deployment(memory: str = "256Mi") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ledger", "namespace": "shop"},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "resources": {"requests": {"memory": memory}}}]}
            }
        },
    }


ALICE = Identity("alice", ("sre-oncall", "system:authenticated"))


@pytest.fixture(autouse=True)
def authenticated_as_alice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SelfSubjectReview (`kubectl auth whoami`) of the plugin's credentials."""

    async def who_am_i(cluster: FakeCluster) -> Identity:
        return ALICE

    monkeypatch.setattr(kubectl_sre, "who_am_i", who_am_i)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    fake = FakeCluster(_report(), _deployment())
    monkeypatch.setattr(kubectl_sre.ClusterWriter, "from_config", lambda *args: fake)
    return fake


def _kubectl_sre(monkeypatch: pytest.MonkeyPatch, stdin: io.StringIO, *argv: str) -> int:
    monkeypatch.setattr(sys, "stdin", stdin)
    return kubectl_sre.main([*argv, NAME, "-n", "shop"])


@pytest.mark.parametrize("answer", ["y\n", "n\n", "yes\n", ""])
def test_a_piped_answer_never_approves(
    cluster: FakeCluster,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: str,
) -> None:
    """`echo y | kubectl sre approve X` and `echo n | ...` both refuse and say to pass --yes."""
    assert _kubectl_sre(monkeypatch, io.StringIO(answer), "approve") == 1
    assert cluster.decisions == []
    err = capsys.readouterr().err
    assert "standard input is not a terminal" in err
    assert f"kubectl sre approve {NAME} -n shop --yes" in err


def test_a_piped_rollback_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    applied = _report(phase="Applied", rollbackPatch={"operations": [], "sha256": "cd" * 32})
    fake = FakeCluster(applied, _deployment("512Mi"))
    monkeypatch.setattr(kubectl_sre.ClusterWriter, "from_config", lambda *args: fake)
    assert _kubectl_sre(monkeypatch, io.StringIO("y\n"), "rollback") == 1
    assert fake.decisions == []
    assert f"kubectl sre rollback {NAME} -n shop --yes" in capsys.readouterr().err


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "sure\n"])
def test_anything_but_yes_at_the_terminal_changes_nothing(
    cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answer: str
) -> None:
    assert _kubectl_sre(monkeypatch, Terminal(answer), "approve") == 1
    assert cluster.decisions == []
    assert capsys.readouterr().out.endswith(f"Apply the patch with sha256 {SHA}? [y/N] nothing changed\n")


@pytest.mark.parametrize("answer", ["y\n", "YES\n", " yes \n"])
def test_yes_at_the_terminal_pins_the_sha_shown(
    cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answer: str
) -> None:
    assert _kubectl_sre(monkeypatch, Terminal(answer), "approve") == 0
    assert cluster.decisions == [
        (
            {
                "decision": "Approved",
                "action": "Apply",
                "patchSHA256": SHA,
                "approvedBy": "alice",
                "approverGroups": ["sre-oncall", "system:authenticated"],
            },
            "kubectl-sre",
        )
    ]
    assert f"approved (apply, sha256 {SHA})" in capsys.readouterr().out


def test_yes_flag_approves_without_a_terminal(cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _kubectl_sre(monkeypatch, io.StringIO(""), "approve", "--yes") == 0
    assert [decision["patchSHA256"] for decision, _ in cluster.decisions] == [SHA]


def test_a_rejection_is_made_in_the_reviewers_own_name_too(
    cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _kubectl_sre(monkeypatch, io.StringIO(""), "reject") == 0
    [(decision, _)] = cluster.decisions
    assert (decision["decision"], decision["approvedBy"]) == ("Rejected", "alice")


def test_show_says_the_approver_was_authenticated_only_when_the_api_server_vouched(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    applied = _report(phase="Applied", approvedBy="alice")
    applied["spec"]["approval"] = {"decision": "Approved", "patchSHA256": SHA, "approvedBy": "alice"}
    monkeypatch.setattr(kubectl_sre.ClusterWriter, "from_config", lambda *args: FakeCluster(applied, None))
    assert _kubectl_sre(monkeypatch, io.StringIO(""), "show") == 0
    assert "  Approved by: alice (authenticated by the API server)\n" in capsys.readouterr().out

    del applied["spec"]["approval"]["approvedBy"]  # decided before approvedBy: a field manager
    applied["status"]["approvedBy"] = "kubectl-patch"
    assert _kubectl_sre(monkeypatch, io.StringIO(""), "show") == 0
    assert "  Approved by: kubectl-patch (field manager, self-declared" in capsys.readouterr().out


def _has_no_control_characters(text: str) -> None:
    hidden = [c for c in text if c not in "\n\t" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)]
    assert hidden == [], hidden
    assert RIGHT_TO_LEFT not in text


def test_show_escapes_every_control_sequence_from_the_report(
    cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _kubectl_sre(monkeypatch, io.StringIO(""), "show") == 0
    out = capsys.readouterr().out
    _has_no_control_characters(out)
    for shown in (r"\x1b[2J\x1b[H", r"fatal: out of memory\x1b[8m", r"\x1b]0;owned\x07", r"\x9b2J"):
        assert shown in out
    # a newline in a one-line field cannot start a line that imitates the plugin's own
    assert f"raise the limit\\x0aSuggested patch for Deployment/ledger (sha256 {'0' * 64})" in out
    assert f"Suggested patch for Deployment/ledger (sha256 {SHA})" in out
    assert "+            memory: 512Mi" in out


def test_approve_prints_the_escaped_report_before_asking(
    cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _kubectl_sre(monkeypatch, Terminal("n\n"), "approve")
    out = capsys.readouterr().out
    _has_no_control_characters(out)
    assert r"fatal: out of memory\x1b[8m" in out


def test_the_patch_its_diff_and_its_sha_cannot_be_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    report = _report()
    patch = report["status"]["suggestedPatch"]
    patch["target"]["name"] = f"ledger{HIDE}"
    patch["sha256"] = f"{HIDE}{SHA}"
    patch["operations"][0]["value"] = f"512Mi{CLEAR}"
    live = _deployment(f"256Mi{RIGHT_TO_LEFT}")
    text = _render(FakeCluster(report, live), patch)
    _has_no_control_characters(text)
    assert rf"Suggested patch for Deployment/ledger\x1b[8m (sha256 \x1b[8m{SHA})" in text
    assert r"--- a/Deployment/ledger\x1b[8m" in text


def _render(cluster: FakeCluster, patch: dict[str, Any]) -> str:
    return asyncio.run(kubectl_sre.render_patch(cluster, "Suggested patch", patch, patch["target"]))  # type: ignore[arg-type]


def test_a_diff_that_no_longer_applies_is_escaped_too() -> None:
    patch = {
        "target": {"kind": "Deployment", "namespace": "shop", "name": "ledger"},
        "operations": [{"op": "test", "path": f"/spec/x{CLEAR}", "value": 1}],
        "sha256": SHA,
    }
    text = _render(FakeCluster(_report(), _deployment()), patch)
    _has_no_control_characters(text)
    assert "no longer applies" in text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[8m", r"\x1b[8m"),
        ("a\rb", r"a\x0db"),
        ("\x00\x07\x08\x7f", r"\x00\x07\x08\x7f"),
        ("\x9b", r"\x9b"),
        ("\u202eevil", r"\u202eevil"),
        ("zero\u200bwidth", r"zero\u200bwidth"),
        ("line\u2028sep", r"line\u2028sep"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("ünïcødé ✓", "ünïcødé ✓"),
    ],
)
def test_visible_writes_out_what_could_drive_a_terminal(raw: str, shown: str) -> None:
    assert kubectl_sre.visible(raw) == shown


def test_the_approver_is_called_what_it_is() -> None:
    approved = kubectl_sre.render_report(_report(phase="Applying", approvedBy="alice-the-admin"))
    assert "Approved by: alice-the-admin (field manager, self-declared by the client;" in approved
    assert "Decided by" not in approved
    rejected = kubectl_sre.render_report(_report(phase="Rejected", approvedBy=f"kubectl-sre{CLEAR}"))
    assert r"Rejected by: kubectl-sre\x1b[2J\x1b[H (field manager, self-declared" in rejected


def test_errors_quoting_the_report_are_escaped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    findings_only = _report(phase="FindingsOnly", noPatchReason=f"no Service{CLEAR}")
    monkeypatch.setattr(
        kubectl_sre.ClusterWriter, "from_config", lambda *args: FakeCluster(findings_only, None)
    )
    assert _kubectl_sre(monkeypatch, io.StringIO(""), "approve", "--yes") == 1
    err = capsys.readouterr().err
    _has_no_control_characters(err)
    assert r"no Service\x1b[2J\x1b[H" in err
