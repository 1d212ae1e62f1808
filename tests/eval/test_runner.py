"""`smart-sre eval` end to end: the baseline on every scenario, the model on a few, and the output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from smart_sre_harness.eval import cli
from smart_sre_harness.eval.results import ScenarioResult, Totals, print_report
from smart_sre_harness.eval.runner import run_baseline, run_with_operator
from smart_sre_harness.eval.scenarios import DEFAULT_DIR, load, load_dir
from smart_sre_harness.processes import Sidecar

MODEL_SCENARIOS = ["seed-crashloop", "missing-key-frontend", "pending-cpu-encoder"]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    return parser.parse_args(["eval", *argv])


@pytest.mark.slow
@pytest.mark.e2e
async def test_baseline_on_every_scenario_is_safe_and_judged_by_the_sandbox(tmp_path: Path):
    results = [await run_baseline(s, tmp_path, lambda _: None) for s in load_dir(DEFAULT_DIR)]
    totals = Totals.of("baseline", results)
    assert [r.scenario for r in results if r.error] == []
    assert totals.unsafe_patches == 0
    assert all(r.trigger == load(DEFAULT_DIR / f"{r.scenario}.yaml").spec.expected.trigger for r in results)
    # Only a patch the sandbox applied and then saw healthy counts as a fix.
    assert all(r.patch_offered and r.phase == "Applied" for r in results if r.patch_fixed)
    assert totals.root_cause_correct >= 0.8 * totals.scenarios
    fixed = {r.scenario for r in results if r.patch_fixed}
    assert {"seed-crashloop", "seed-pending"} <= fixed
    # A dependency that is really down is not "fixed" by changing the app.
    down = next(r for r in results if r.scenario == "dependency-down-cart")
    assert (down.root_cause, down.patch_offered, down.phase) == (
        "DependencyUnavailable",
        False,
        "FindingsOnly",
    )


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.model
@pytest.mark.parametrize("name", MODEL_SCENARIOS)
async def test_operator_and_model_diagnose_and_fix_the_scenario(name: str, sidecar: Sidecar, tmp_path: Path):
    progress: list[str] = []
    result = await run_with_operator(
        load(DEFAULT_DIR / f"{name}.yaml"), sidecar.url, None, tmp_path, progress.append
    )
    assert result.error is None, (result, progress)
    assert result.correct, result
    assert (result.patch_offered, result.unsafe, result.patch_fixed) == (True, [], True)
    assert result.parse_failures == 0
    assert result.tokens > 0
    assert any("AwaitingApproval" in line for line in progress)
    assert any("patch approved" in line for line in progress)


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.model
async def test_operator_ends_the_report_with_findings_when_no_change_is_safe(
    sidecar: Sidecar, tmp_path: Path
):
    """A dependency that is really down: the report names it and ends FindingsOnly, nothing to approve."""
    progress: list[str] = []
    result = await run_with_operator(
        load(DEFAULT_DIR / "dependency-down-cart.yaml"), sidecar.url, None, tmp_path, progress.append
    )
    assert result.error is None, (result, progress)
    assert (result.phase, result.root_cause, result.patch_offered) == (
        "FindingsOnly",
        "DependencyUnavailable",
        False,
    )
    assert "redis" in (result.note or "")


def test_report_table_and_json_show_every_measure(tmp_path: Path, capsys):
    results = [
        ScenarioResult("a", "baseline", "OOMKilled", "OOMKilled", "OOMKilled", True, True, seconds=1.5),
        ScenarioResult("b", "baseline", "ImagePull", "ImagePullBackOff", "Unknown", note="no cause"),
    ]
    totals = print_report(results, sys.stdout)
    shown = capsys.readouterr().out
    assert "| a | baseline | OOMKilled | OOMKilled | yes | yes | yes | 0 | 0 | 0 | 0 | 1.5 |" in shown
    assert "| baseline | 2 | 1 (50%) | 1 (50%) | 1 (50%) | 0 | 0 | 0 | 0 | 0 | 1.5 |" in shown
    assert totals[0].root_cause_correct == 1


@pytest.mark.slow
def test_cli_baseline_writes_the_json_report(tmp_path: Path, capsys):
    out = tmp_path / "eval.json"
    code = cli.handler(parse("--baseline", "--only", "seed-pending", "oom-image-resizer", "--json", str(out)))
    assert code == 0
    shown = capsys.readouterr().out
    assert "[1/2] oom-image-resizer (baseline)" in shown
    body = json.loads(out.read_text())
    assert body["totals"][0] | {"seconds": 0} == {
        "mode": "baseline",
        "scenarios": 2,
        "root_cause_correct": 2,
        "patch_offered": 2,
        "patch_fixed": 2,
        "unsafe_patches": 0,
        "parse_failures": 0,
        "errors": 0,
        "steps": 0,
        "tokens": 0,
        "seconds": 0,
    }
    assert {s["scenario"] for s in body["scenarios"]} == {"seed-pending", "oom-image-resizer"}
    assert all(s["correct"] and s["trigger"] for s in body["scenarios"])


def test_cli_refuses_unknown_scenarios(capsys):
    assert cli.handler(parse("--baseline", "--only", "nope")) == 2
    assert "unknown scenario(s) nope" in capsys.readouterr().err
