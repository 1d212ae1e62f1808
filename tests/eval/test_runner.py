"""`smart-sre eval` end to end: the baseline on every scenario, the model on a few, and the output (per
run, per mode and set, and what each model changed against the baseline)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from smart_sre_harness.eval import cli
from smart_sre_harness.eval.results import ScenarioResult, Totals, print_report, write_json
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
    totals = Totals.of("baseline", results, "public")
    assert [r.scenario for r in results if r.error] == []
    # The analyzers' own sentences name only what the cluster and the evidence show: every summary was
    # read, and none names anything that nothing showed.
    assert {r.scenario: r.invented for r in results if r.invented != []} == {}
    assert totals.invented_names == 0
    assert all(r.set == "public" for r in results)
    # Where the baseline finds the cause, its summary names the culprit the scenario expects.
    assert totals.with_mentions >= 0.8 * totals.scenarios
    assert {r.scenario for r in results if r.correct and r.culprit_named is False} == set()
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


def _run(name: str, mode: str, set_name: str, right: bool, named: bool | None, invented: list[str]):
    cause = "OOMKilled" if right else "Unknown"
    return ScenarioResult(
        name, mode, "OOMKilled", "OOMKilled", cause, right, right, seconds=1.5, set=set_name,
        culprit_named=named, invented=invented,
    )  # fmt: skip


def test_report_table_and_json_show_every_measure(tmp_path: Path, capsys):
    results = [
        _run("a", "baseline", "public", True, True, []),
        _run("b", "baseline", "public", False, None, ["api"]),
    ]
    totals = print_report(results, sys.stdout)
    shown = capsys.readouterr().out
    assert (
        "| a | public | baseline | OOMKilled | OOMKilled | yes | yes | yes | yes | 0 | 0 | 0 | 0 | 0 | 1.5 |"
        in shown
    )
    assert "| b | public | baseline | OOMKilled | Unknown | no | no | no | - | 1 | 0 |" in shown
    assert (
        "| baseline | public | 2 | 1 (50%) | 1 (50%) | 1 (50%) | 1/1 (100%) | 1 | 0 | 0 | 0 | 0 | 0 | 3.0 |"
        in shown
    )
    assert "- b (baseline): invented names: api" in shown
    assert totals[0].root_cause_correct == 1


def test_totals_per_mode_and_set_and_what_each_model_changes(tmp_path: Path, capsys):
    results = [
        _run("tie-1", "model:small", "close-call", True, True, []),
        _run("tie-2", "model:small", "close-call", True, False, ["cache-v2"]),
        _run("seed", "model:small", "public", True, None, []),
        _run("tie-1", "model:big", "close-call", True, True, []),
        _run("tie-2", "model:big", "close-call", True, True, []),
        _run("seed", "model:big", "public", True, None, []),
        _run("tie-1", "baseline", "close-call", True, True, []),
        _run("tie-2", "baseline", "close-call", False, False, []),
        _run("seed", "baseline", "public", True, None, []),
    ]
    totals = print_report(results, sys.stdout)
    shown = capsys.readouterr().out
    assert [(t.mode, t.set, t.scenarios) for t in totals] == [
        ("model:small", "close-call", 2),
        ("model:small", "public", 1),
        ("model:big", "close-call", 2),
        ("model:big", "public", 1),
        ("baseline", "close-call", 2),
        ("baseline", "public", 1),
    ]
    assert "| model:small | close-call | 2 | 2 (100%) | 2 (100%) | 2 (100%) | 1/2 (50%) | 1 |" in shown
    assert "| model:small | public | 1 | 1 (100%) | 1 (100%) | 1 (100%) | - | 0 |" in shown
    # Percentage points against the baseline on the same set: cause, fix works, culprit named.
    assert "| model:small - baseline | close-call | 2 | +50 pts |  | +50 pts | +0 pts |  |" in shown
    assert "| model:big - baseline | close-call | 2 | +50 pts |  | +50 pts | +50 pts |  |" in shown
    assert "| model:big - baseline | public | 1 | +0 pts |  | +0 pts | - |  |" in shown
    out = tmp_path / "eval.json"
    write_json(out, results, totals, {"models": ["small", "big"]})
    body = json.loads(out.read_text())
    first = body["totals"][0]
    assert (first["mode"], first["set"], first["with_mentions"], first["culprit_named"]) == (
        "model:small",
        "close-call",
        2,
        1,
    )
    assert first["invented_names"] == 1
    assert body["differences"][0] == {
        "mode": "model:small - baseline",
        "set": "close-call",
        "scenarios": 2,
        "root_cause_points": 50.0,
        "patch_fixed_points": 50.0,
        "culprit_named_points": 0.0,
    }
    assert body["scenarios"][1]["invented"] == ["cache-v2"]


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
        "set": "public",
        "scenarios": 2,
        "root_cause_correct": 2,
        "patch_offered": 2,
        "patch_fixed": 2,
        "with_mentions": 2,
        "culprit_named": 2,
        "invented_names": 0,
        "unsafe_patches": 0,
        "parse_failures": 0,
        "errors": 0,
        "steps": 0,
        "tokens": 0,
        "seconds": 0,
    }
    assert {s["scenario"] for s in body["scenarios"]} == {"seed-pending", "oom-image-resizer"}
    assert all(s["correct"] and s["trigger"] for s in body["scenarios"])


def test_cli_refuses_unknown_scenarios_and_sets(capsys):
    assert cli.handler(parse("--baseline", "--only", "nope")) == 2
    assert "unknown scenario(s) nope" in capsys.readouterr().err
    assert cli.handler(parse("--baseline", "--set", "nope")) == 2
    assert "unknown scenario set(s) nope" in capsys.readouterr().err
    assert cli.handler(parse("--baseline", "--set", "close-call", "--only", "seed-crashloop")) == 2
    assert "unknown scenario(s) seed-crashloop" in capsys.readouterr().err


def test_cli_runs_every_set_by_default_and_picks_sets_models_and_scenarios():
    every = cli._scenario_suite(parse("--baseline")).items
    assert {"public", "close-call"} <= {s.set for s in every}
    close = cli._scenario_suite(parse("--baseline", "--set", "close-call")).items
    assert {s.set for s in close} == {"close-call"}
    picked = cli._scenario_suite(parse("--only", "seed-crashloop", close[0].name)).items
    assert [(s.set, s.name) for s in picked] == [("public", "seed-crashloop"), ("close-call", close[0].name)]
    assert cli._models(parse("--model", "small", "--model", "big", "--model", "small")) == ["small", "big"]
    assert cli._models(parse()) == [None]
