"""`smart-sre eval --tasks`: task folders in kubectl-ai's k8s-bench layout, loaded, run end to end and
reported; a task that cannot run is a row that says why."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from smart_sre_harness.eval import cli, stage
from smart_sre_harness.eval.results import TASK, ScenarioResult, print_report, write_json
from smart_sre_harness.eval.tasks import (
    DEFAULT_DIR,
    Limits,
    TaskError,
    load,
    load_dir,
    run_task_baseline,
    run_task_with_operator,
)
from smart_sre_harness.processes import Sidecar
from smart_sre_harness.testing import RunningSandbox

SUITE = load_dir(DEFAULT_DIR)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    return parser.parse_args(["eval", *argv])


def write_task(folder: Path, task_yaml: str, **scripts: str) -> Path:
    """A task folder: task.yaml and the named scripts (setup="...", verify="..." ...), executable."""
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text(task_yaml)
    for name, body in scripts.items():
        script = folder / f"{name}.sh"
        script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + body)
        script.chmod(0o755)
    return folder


K8S_BENCH_TASK = """\
script:
- prompt: "Something is broken. Fix it."
setup: "setup.sh"
verifier: "verify.sh"
cleanup: "cleanup.sh"
difficulty: "easy"
expect:
- contains: "fixed"
isolation: cluster
"""


def test_the_suite_has_a_dozen_different_runnable_tasks():
    assert len(SUITE) >= 12
    assert [t.name for t in SUITE if t.problem] == []
    assert len({t.spec.namespaces[0] for t in SUITE}) == len(SUITE)
    assert len({(t.expected_root_cause, t.spec.expected.trigger) for t in SUITE if t.spec.expected}) >= 8
    for task in SUITE:
        assert task.spec.script
        assert task.spec.script[0].prompt
        for script in (task.spec.setup, task.spec.verifier, task.spec.cleanup):
            assert os.access(task.script(script), os.X_OK), (task.name, script)


def test_every_task_file_ships_with_the_sandbox_distribution():
    pyproject = tomllib.loads((DEFAULT_DIR.parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["smart_sre_harness"]
    files = [PurePosixPath(f.relative_to(DEFAULT_DIR.parent)) for f in DEFAULT_DIR.rglob("*") if f.is_file()]
    assert len(files) >= 4 * len(SUITE)
    unshipped = [
        str(f) for f in files if not any(f.match(p) and len(f.parts) == p.count("/") + 1 for p in patterns)
    ]
    assert unshipped == []


def test_k8s_bench_fields_load_and_unknown_ones_are_kept(tmp_path: Path):
    folder = write_task(tmp_path / "fix-it", K8S_BENCH_TASK + "timeout: 5m\n", setup="", verify="")
    task = load(folder)
    assert task.problem is None
    assert (task.spec.setup, task.spec.verifier, task.spec.cleanup) == ("setup.sh", "verify.sh", "cleanup.sh")
    assert task.spec.namespaces == []
    assert task.expected_root_cause is None
    assert task.spec.model_extra == {
        "difficulty": "easy",
        "expect": [{"contains": "fixed"}],
        "isolation": "cluster",
        "timeout": "5m",
    }


async def test_a_malformed_task_yaml_is_a_row_that_says_why(tmp_path: Path):
    folder = write_task(tmp_path / "broken", "script: [\n", setup="", verify="")
    result = await run_task_baseline(load(folder), tmp_path, lambda _: None)
    assert result.error is not None
    assert result.error.startswith(f"{folder / 'task.yaml'} is not a valid task")
    wrong_type = write_task(tmp_path / "wrong-type", "namespaces: shop\n", setup="", verify="")
    assert "namespaces" in (load(wrong_type).problem or "")


async def test_a_folder_without_setup_sh_is_a_row_that_says_why(tmp_path: Path):
    folder = write_task(tmp_path / "no-setup", K8S_BENCH_TASK, verify="")
    result = await run_task_baseline(load(folder), tmp_path, lambda _: None)
    assert result.error == f"{folder} has no setup setup.sh: nothing to run or judge"
    assert (result.patch_offered, result.patch_fixed, result.seconds) == (False, False, 0.0)
    assert load(tmp_path / "missing").problem == f"no task.yaml in {tmp_path / 'missing'}"


def test_unknown_task_names_and_directories_are_refused(tmp_path: Path, capsys):
    with pytest.raises(TaskError, match=r"unknown task\(s\) nope; known: "):
        load_dir(DEFAULT_DIR, ["nope"])
    assert cli.handler(parse("--baseline", "--tasks", str(tmp_path / "none"))) == 2
    assert "is not a directory of task folders" in capsys.readouterr().err
    assert cli.handler(parse("--baseline", "--tasks", str(tmp_path))) == 2
    assert f"no task folders in {tmp_path}" in capsys.readouterr().err
    assert cli.handler(parse("--baseline", "--kubeconfig", str(tmp_path / "kubeconfig"))) == 2
    assert "--kubeconfig runs a task suite on a cluster" in capsys.readouterr().err


def test_the_task_table_and_json_name_tasks_and_the_verifier(tmp_path: Path, capsys):
    results = [
        ScenarioResult("image-tag", "baseline", "ImagePull", "ImagePullBackOff", "ImagePull", True, True),
        ScenarioResult("foreign", "baseline", None, "CrashLoopBackOff", "Unknown", note="verify.sh exited 1"),
        ScenarioResult("no-setup", "baseline", None, error="/x has no setup setup.sh"),
    ]
    totals = print_report(results, sys.stdout, TASK)
    shown = capsys.readouterr().out
    assert "| task | mode | expected | cause found | ok | patch offered | verify passed |" in shown
    assert "| image-tag | baseline | ImagePull | ImagePull | yes | yes | yes | 0 |" in shown
    assert "| foreign | baseline | - | Unknown | - | no | no | 0 |" in shown
    assert "| mode | tasks | root cause | patch offered | verify passed | unsafe patches |" in shown
    assert "- foreign (baseline): verify.sh exited 1" in shown
    assert "- no-setup (baseline): /x has no setup setup.sh" in shown
    assert (totals[0].scenarios, totals[0].patch_fixed, totals[0].errors) == (3, 1, 1)
    out = tmp_path / "tasks.json"
    write_json(out, results, totals, {"tasks_dir": "x"}, TASK)
    body = json.loads(out.read_text())
    assert body["totals"][0]["tasks"] == 3
    assert "scenarios" not in body["totals"][0]
    assert [(row["task"], row["correct"], row["patch_fixed"]) for row in body["tasks"]] == [
        ("image-tag", True, True),
        ("foreign", False, False),
        ("no-setup", False, False),
    ]


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.kubectl
def test_cli_runs_the_suite_in_baseline_and_writes_the_json(tmp_path: Path, capsys):
    out = tmp_path / "tasks.json"
    argv = ["--baseline", "--tasks", str(DEFAULT_DIR), "--only", "image-tag-typo", "pending-unknown-zone"]
    assert cli.handler(parse(*argv, "--json", str(out), "--logs", str(tmp_path))) == 0
    shown = capsys.readouterr().out
    assert "| image-tag-typo | baseline | ImagePull | ImagePull | yes | yes | yes | 0 |" in shown
    body = json.loads(out.read_text())
    assert body["tasks_dir"] == str(DEFAULT_DIR)
    assert {row["task"]: (row["correct"], row["phase"], row["patch_fixed"]) for row in body["tasks"]} == {
        "image-tag-typo": (True, "Applied", True),
        "pending-unknown-zone": (True, "Applied", True),
    }
    # verify.sh and the other scripts ran in the task's folder, against the task's sandbox.
    log = (tmp_path / "image-tag-typo.baseline.log").read_text()
    assert "$ setup.sh" in log
    assert 'deployment "storefront" successfully rolled out' in log
    assert log.index("$ verify.sh") < log.index("$ cleanup.sh")


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.kubectl
async def test_script_failures_and_quiet_workloads_are_rows_that_say_why(tmp_path: Path):
    suite, progress = tmp_path / "suite", []
    marker = "touch cleaned-up\n"
    write_task(
        suite / "setup-fails",
        K8S_BENCH_TASK,
        setup="echo 'error: exceeded quota: compute-resources' >&2\nexit 3\n",
        verify="",
        cleanup=marker,
    )
    # No namespaces in task.yaml: the one setup.sh creates is the task's.
    healthy = "kubectl create namespace calm\nkubectl create deployment web -n calm --image=nginx:1.27\n"
    write_task(suite / "nothing-fails", K8S_BENCH_TASK, setup=healthy, verify="", cleanup=marker)
    pending = """kubectl create namespace stuck
kubectl apply -n stuck -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {topology.kubernetes.io/zone: zone-d}
      containers: [{name: nginx, image: "nginx:1.27"}]
YAML
"""
    write_task(suite / "verify-hangs", K8S_BENCH_TASK, setup=pending, verify="sleep 60\n", cleanup=marker)
    limits = Limits(script=8.0, failure=3.0)
    results = {
        task.name: await run_task_baseline(task, tmp_path, progress.append, limits=limits)
        for task in load_dir(suite)
    }
    assert results["setup-fails"].error == "setup.sh exited 3: error: exceeded quota: compute-resources"
    quiet = results["nothing-fails"].error or ""
    assert quiet.startswith("no pod in calm showed a failure within 3s (web-")
    assert ": Running" in quiet
    hung = results["verify-hangs"]
    assert (hung.root_cause, hung.phase, hung.error) == (
        "UnsatisfiableScheduling",
        "Applied",
        "verify.sh did not finish within 8s",
    )
    # cleanup.sh ran after each of them, in its folder.
    assert all((suite / name / "cleaned-up").exists() for name in results)


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    """The `sandbox` fixture as a cluster smart-sre's CRDs are installed in."""
    return {"time_scale": stage.TIME_SCALE, "crds_dir": stage.crds_dir()}


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.kubectl
def test_kubeconfig_runs_a_task_on_that_cluster_and_installs_nothing(
    sandbox: RunningSandbox, tmp_path: Path, capsys
):
    task = next(t for t in SUITE if t.name == "image-tag-typo")
    result = asyncio.run(run_task_baseline(task, tmp_path, lambda _: None, kubeconfig=sandbox.kubeconfig))
    assert (result.error, result.correct, result.patch_fixed) == (None, True, True)
    # No CRDs, no run: the error says how to install them, and nothing was created.
    sandbox.kubectl("delete", "crd", "diagnosticreports.smartsre.io")
    argv = ["--baseline", "--tasks", str(DEFAULT_DIR), "--kubeconfig", str(sandbox.kubeconfig)]
    assert cli.handler(parse(*argv)) == 2
    error = capsys.readouterr().err
    assert "smart-sre's CRDs are not usable on the cluster of" in error
    assert "kubectl apply --server-side -f crds/" in error
    assert sandbox.kubectl("get", "crd", "-o", "name").stdout.strip() == (
        "customresourcedefinition.apiextensions.k8s.io/debugpolicies.smartsre.io"
    )


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.model
@pytest.mark.kubectl
async def test_operator_and_model_fix_a_task(sidecar: Sidecar, tmp_path: Path):
    progress: list[str] = []
    task = next(t for t in SUITE if t.name == "configmap-key-typo")
    result = await run_task_with_operator(task, sidecar.url, None, tmp_path, progress.append)
    assert result.error is None, (result, progress)
    assert (result.correct, result.patch_offered, result.unsafe, result.patch_fixed) == (True, True, [], True)
    assert result.parse_failures == 0
    assert result.tokens > 0
    assert any("patch approved" in line for line in progress)
    assert any(line == "verify.sh passed" for line in progress)
