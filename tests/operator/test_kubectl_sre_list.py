"""`kubectl sre list` and `show -o`: what is waiting for a decision comes first, and nothing a report holds
can drive the terminal of whoever lists them; `--version` and the exit codes scripts rely on.

The plugin runs for real (`main`) against a fake API client that returns the stored reports as
`ClusterWriter.list_reports` does.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from smart_sre.api.diagnosticreport import ObservedReport
from smart_sre.commands import kubectl_sre
from smart_sre.commands import main as smart_sre_main
from smart_sre.k8s.cluster import ClusterError

SHA = "ab" * 32
CLEAR = "\x1b[2J\x1b[H"  # erase the screen, cursor home
C1_CSI = "\x9b2J"  # the one-byte C1 form of ESC [


def _timestamp(ago: timedelta) -> str:
    """Relative to the moment the report is built: the plugin prints ages against its own clock."""
    return (datetime.now(UTC) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def _report(
    name: str,
    ago: timedelta,
    phase: str | None = None,
    cause: tuple[str, str] | None = None,
    *,
    namespace: str = "shop",
    **status: Any,
) -> dict[str, Any]:
    """A report as the API server returns it, `cause` its findings' (root cause, confidence); no phase
    means the operator has not written a status yet."""
    report: dict[str, Any] = {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DiagnosticReport",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "resourceVersion": "7",
            "creationTimestamp": _timestamp(ago),
        },
        "spec": {
            "podRef": {"name": f"{name}-pod", "uid": "pod-uid"},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": "w-uid"},
            "trigger": "OOMKilled",
            "policyRef": {"name": "seed"},
        },
    }
    if cause is not None:
        status["findings"] = {"summary": "What was found.", "rootCause": cause[0], "confidence": cause[1]}
    if phase is not None:
        report["status"] = {"phase": phase, **status}
    return report


def _awaiting(name: str, ago: timedelta, **status: Any) -> dict[str, Any]:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": name}
    operations = [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    suggested = {"target": target, "operations": operations, "sha256": SHA}
    return _report(name, ago, "AwaitingApproval", ("OOMKilled", "High"), suggestedPatch=suggested, **status)


class FakeCluster:
    """Stored reports, listed and read as the plugin's ClusterWriter calls do."""

    def __init__(self, *stored: dict[str, Any], refuse: ClusterError | None = None) -> None:
        self.stored, self.refuse = list(stored), refuse
        self.listed: list[str | None] = []

    async def list_reports(self, namespace: str | None = None) -> list[ObservedReport]:
        if self.refuse:
            raise self.refuse
        self.listed.append(namespace)
        return [
            ObservedReport.model_validate(report)
            for report in self.stored
            if namespace in (None, report["metadata"]["namespace"])
        ]

    async def get_report(self, namespace: str, name: str) -> dict[str, Any] | None:
        matches = (r for r in self.stored if r["metadata"]["name"] == name)
        return next((r for r in matches if r["metadata"]["namespace"] == namespace), None)

    def close(self) -> None:
        pass


@pytest.fixture
def reports() -> list[dict[str, Any]]:
    """Stored in no useful order, as the API server lists them (by name)."""
    return [
        _report(
            "applied-long-ago", timedelta(days=3), "Applied", ("OOMKilled", "Medium"), approvedBy="alice"
        ),
        _awaiting("awaiting-newer", timedelta(minutes=5)),
        _awaiting("awaiting-older", timedelta(hours=3)),
        _report("findings-only", timedelta(hours=1), "FindingsOnly", ("DependencyUnavailable", "Low")),
        _report("just-opened", timedelta(seconds=4)),
        _report("other-team", timedelta(hours=2), "Rejected", namespace="payments", approvedBy="bob"),
    ]


def _use(monkeypatch: pytest.MonkeyPatch, fake: FakeCluster) -> FakeCluster:
    monkeypatch.setattr(kubectl_sre.ClusterWriter, "from_config", lambda *args: fake)
    return fake


def _table(out: str) -> list[list[str]]:
    """The table's cells: columns are separated by at least three spaces, cells hold at most one."""
    return [re.split(r" {3,}", line) for line in out.splitlines()]


def test_decisions_waiting_for_a_human_come_first_oldest_first(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], reports: list[dict[str, Any]]
) -> None:
    fake = _use(monkeypatch, FakeCluster(*reports))
    assert kubectl_sre.main(["list", "-n", "shop"]) == 0
    assert fake.listed == ["shop"]
    header, *rows = _table(capsys.readouterr().out)
    assert header == ["NAME", "PHASE", "ROOT CAUSE", "CONFIDENCE", "TARGET", "AGE"]
    assert rows == [
        ["awaiting-older", "AwaitingApproval", "OOMKilled", "High", "Deployment/awaiting-older", "3h"],
        ["awaiting-newer", "AwaitingApproval", "OOMKilled", "High", "Deployment/awaiting-newer", "5m"],
        # then in lifecycle order: not analysed yet, closed without a patch, applied
        ["just-opened", "Pending", "<none>", "<none>", "<none>", rows[2][-1]],
        ["findings-only", "FindingsOnly", "DependencyUnavailable", "Low", "<none>", "1h"],
        ["applied-long-ago", "Applied", "OOMKilled", "Medium", "<none>", "3d"],
    ]
    assert re.fullmatch(r"\d+s", rows[2][-1])


def test_all_namespaces_adds_the_namespace_column(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], reports: list[dict[str, Any]]
) -> None:
    fake = _use(monkeypatch, FakeCluster(*reports))
    assert kubectl_sre.main(["list", "-A"]) == 0
    assert fake.listed == [None]
    header, *rows = _table(capsys.readouterr().out)
    assert header[:3] == ["NAMESPACE", "NAME", "PHASE"]
    assert [row[:2] for row in rows] == [
        ["shop", "awaiting-older"],
        ["shop", "awaiting-newer"],
        ["shop", "just-opened"],
        ["shop", "findings-only"],
        ["shop", "applied-long-ago"],
        ["payments", "other-team"],
    ]


def test_wide_adds_pod_trigger_short_sha_and_who_decided(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], reports: list[dict[str, Any]]
) -> None:
    _use(monkeypatch, FakeCluster(*reports))
    assert kubectl_sre.main(["list", "-n", "shop", "-o", "wide"]) == 0
    header, *rows = _table(capsys.readouterr().out)
    assert header[-5:] == ["AGE", "POD", "TRIGGER", "SHA256", "APPROVED BY"]
    by_name = {row[0]: row for row in rows}
    assert by_name["awaiting-older"][-4:] == ["awaiting-older-pod", "OOMKilled", SHA[:12], "<none>"]
    assert by_name["applied-long-ago"][-2:] == ["<none>", "alice"]


def _has_no_control_characters(text: str) -> None:
    hidden = [c for c in text if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)]
    assert hidden == [], hidden


def test_the_table_never_prints_a_control_character_from_a_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever may write a report's status chooses approvedBy: it can neither clear the screen nor add a row."""
    forged = _awaiting("ledger", timedelta(hours=1), approvedBy=f"mallory{CLEAR}\nledger-2 Applied{C1_CSI}")
    _use(monkeypatch, FakeCluster(forged))
    assert kubectl_sre.main(["list", "-n", "shop", "-o", "wide"]) == 0
    out = capsys.readouterr().out
    _has_no_control_characters(out)
    _, row = _table(out)
    assert row[-1] == r"mallory\x1b[2J\x1b[H\x0aledger-2 Applied\x9b2J"


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_json_and_yaml_are_the_reports_as_the_api_returned_them(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reports: list[dict[str, Any]],
    output: str,
) -> None:
    hostile = _awaiting("ledger", timedelta(days=9), approvedBy=f"mallory{CLEAR}{C1_CSI} ünïcødé")
    _use(monkeypatch, FakeCluster(*reports, hostile))
    assert kubectl_sre.main(["list", "-n", "shop", "-o", output]) == 0
    out = capsys.readouterr().out
    _has_no_control_characters(out)  # written out as JSON or YAML escapes, not rewritten
    listed = json.loads(out) if output == "json" else yaml.safe_load(out)
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    in_shop = [r for r in [*reports, hostile] if r["metadata"]["namespace"] == "shop"]
    assert sorted(listed["items"], key=lambda r: r["metadata"]["name"]) == sorted(
        in_shop, key=lambda r: r["metadata"]["name"]
    )
    assert [item["metadata"]["name"] for item in listed["items"][:3]] == [
        "ledger",
        "awaiting-older",
        "awaiting-newer",
    ]


def test_no_reports_is_said_on_stderr_and_is_not_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, FakeCluster())
    assert kubectl_sre.main(["list", "-n", "shop"]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", 'No diagnosticreports found in namespace "shop".\n')
    assert kubectl_sre.main(["list", "-A", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_show_prints_the_report_object_for_scripts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    stored = _awaiting("ledger", timedelta(hours=1), approvedBy=f"mallory{CLEAR}")
    _use(monkeypatch, FakeCluster(stored))
    assert kubectl_sre.main(["show", "ledger", "-n", "shop", "-o", output]) == 0
    out = capsys.readouterr().out
    _has_no_control_characters(out)
    assert (json.loads(out) if output == "json" else yaml.safe_load(out)) == stored


def test_refusals_and_missing_reports_exit_1_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    forbidden = ClusterError(403, 'diagnosticreports.smartsre.io is forbidden: User "bob" cannot list')
    _use(monkeypatch, FakeCluster(refuse=forbidden))
    assert kubectl_sre.main(["list", "-A"]) == 1
    assert (
        "error: the API server refused: diagnosticreports.smartsre.io is forbidden" in capsys.readouterr().err
    )

    _use(monkeypatch, FakeCluster())
    assert kubectl_sre.main(["show", "nope", "-n", "shop", "-o", "json"]) == 1
    err = capsys.readouterr().err
    assert 'diagnosticreport "nope" not found in namespace "shop"' in err
    assert "kubectl get dr -A" in err


def test_a_report_of_another_shape_or_a_bad_kubeconfig_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert kubectl_sre.main(["list", "--kubeconfig", str(tmp_path / "missing")]) == 1
    assert "--kubeconfig or KUBECONFIG" in capsys.readouterr().err

    newer = _report("ledger", timedelta(hours=1))
    newer["spec"]["trigger"] = "Evicted"  # a trigger of a newer operator's CRD
    _use(monkeypatch, FakeCluster(newer))
    assert kubectl_sre.main(["list", "-A"]) == 1
    err = capsys.readouterr().err
    assert "error: a DiagnosticReport does not have the shape kubectl-sre" in err
    assert "spec.trigger" in err
    assert "kubectl sre --version" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "-A", "-n", "shop"],
        ["list", "-o", "name"],
        ["show", "ledger", "-o", "wide"],
        ["show"],
        ["lst"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        kubectl_sre.main(argv)
    assert exited.value.code == 2
    assert "usage: kubectl sre" in capsys.readouterr().err


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        kubectl_sre.main(["--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    for line in ("0  done", "1  refused, answered no, not found, or the API server failed", "2  usage error"):
        assert line in help_text


@pytest.mark.parametrize(
    ("main", "prog"), [(kubectl_sre.main, "kubectl sre"), (smart_sre_main.main, "smart-sre")]
)
def test_version_is_the_installed_packages(main: Any, prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"{prog} {importlib.metadata.version('smart-sre')}\n"
