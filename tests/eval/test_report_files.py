"""`smart-sre eval --reports DIR`: each run's final report in a file a reader finds by set, scenario and
mode; a later run replaces it; a bad DIR stops the eval before any run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from smart_sre_harness.eval import cli
from smart_sre_harness.eval.report_files import ReportWriter, read, stored_files
from smart_sre_harness.eval.results import ScenarioResult, totals_of, write_json
from smart_sre_harness.eval.runner import blank_result, summary_reader
from smart_sre_harness.eval.scenarios import DEFAULT_DIR, load_sets


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    return parser.parse_args(["eval", *argv])


def report(summary: str) -> dict:
    """A report as the API server returns one, bookkeeping included."""
    return {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DiagnosticReport",
        "metadata": {"name": "api-crashloop-1a2b3c4d5e", "namespace": "shop", "uid": "u-1", "managedFields": []},
        "spec": {"trigger": "CrashLoopBackOff"},
        "status": {"phase": "FindingsOnly", "findings": {"summary": summary}},
    }  # fmt: skip


def run(mode: str, summary: str | None) -> ScenarioResult:
    result = ScenarioResult("seed-crashloop", mode, "OOMKilled", set="public")
    result.report = None if summary is None else report(summary)
    return result


def test_each_mode_has_its_file_and_a_later_run_replaces_it(tmp_path: Path):
    writer = ReportWriter.at(tmp_path / "reports")
    writer.keep(run("baseline", "first"))
    writer.keep(run("model:qwen2.5-coder/0.5b", "the model's"))
    writer.keep(run("baseline", "second"))
    files = [path.relative_to(writer.directory) for path in stored_files(writer.directory)]
    assert files == [Path("public/seed-crashloop/baseline.json"), Path("public/seed-crashloop/model_qwen2.5-coder_0.5b.json")]  # fmt: skip
    baseline = read(writer.directory / files[0])
    assert (baseline.scenario, baseline.set, baseline.mode) == ("seed-crashloop", "public", "baseline")
    assert baseline.status["findings"]["summary"] == "second"
    # What a reader needs, without the API server's bookkeeping; one compact line.
    assert baseline.report["metadata"] == {"name": "api-crashloop-1a2b3c4d5e", "namespace": "shop"}
    assert list(baseline.report) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert len((writer.directory / files[0]).read_text().splitlines()) == 1
    assert read(writer.directory / files[1]).mode == "model:qwen2.5-coder/0.5b"
    # A later run that ended with no report leaves no earlier report behind.
    writer.keep(run("baseline", None))
    assert [p.name for p in stored_files(writer.directory)] == ["model_qwen2.5-coder_0.5b.json"]


def test_a_mode_never_escapes_the_folder(tmp_path: Path):
    writer = ReportWriter.at(tmp_path)
    path = writer.keep(run("model:../../etc/x", "s"))
    assert path.parent == tmp_path / "public" / "seed-crashloop"
    assert path.name == "model_.._.._etc_x.json"


def test_the_stored_report_is_judged_as_the_eval_judged_it(tmp_path: Path):
    scenario = load_sets(DEFAULT_DIR, only=["seed-crashloop"])[0]
    result = blank_result(scenario, "baseline")
    result.report = report("Container api is OOMKilled")
    summary_reader(scenario)(result.report["status"], result)
    stored = read(ReportWriter.at(tmp_path).keep(result))
    again = blank_result(scenario, stored.mode)
    summary_reader(scenario)(stored.status, again)
    assert again.invented == result.invented == ["api"]


def test_json_results_carry_the_summary_not_the_report(tmp_path: Path):
    result = run("baseline", "Container api is OOMKilled")
    result.summary = "Container api is OOMKilled"
    write_json(tmp_path / "eval.json", [result], totals_of([result]), {})
    row = json.loads((tmp_path / "eval.json").read_text())["scenarios"][0]
    assert row["summary"] == "Container api is OOMKilled"
    assert "report" not in row


@pytest.mark.parametrize("where", ["reports", "reports/inside"])
def test_an_unwritable_folder_stops_the_eval_before_any_run(tmp_path: Path, where: str, capsys):
    (tmp_path / "reports").write_text("")  # a file where the folder, or a folder above it, would be
    target = tmp_path / where
    assert cli.handler(parse("--baseline", "--only", "seed-crashloop", "--reports", str(target))) == 2
    shown = capsys.readouterr()
    assert f"--reports {target}: not a writable directory" in shown.err
    assert "seed-crashloop" not in shown.out


def test_reports_are_kept_of_scenarios_not_tasks(capsys):
    assert cli.handler(parse("--tasks", "x", "--reports", "y", "--baseline")) == 2
    assert "--reports keeps the reports of scenario runs" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_baseline_writes_each_report(tmp_path: Path, capsys):
    code = cli.handler(parse("--baseline", "--only", "seed-pending", "--reports", str(tmp_path)))
    assert code == 0
    stored = read(tmp_path / "public" / "seed-pending" / "baseline.json")
    # Named and shaped as the operator names and shapes a report, with the phase the baseline reached.
    assert stored.report["metadata"]["name"].startswith("report-generator-pending-")
    assert stored.report["spec"]["policyRef"] == {"name": "eval"}
    assert stored.status["phase"] == "Applied"
    assert stored.status["findings"]["summary"]
    assert f"report in {tmp_path}" in capsys.readouterr().out
