"""`smart-sre sandbox`: listing scenarios, and `up` serving kubectl until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from smart_sre.cli import main
from smart_sre_sandbox.testing import kubectl_path


def test_scenarios_lists_the_built_in_seed_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "scenarios"]) == 0
    listed = capsys.readouterr().out
    assert "seed-crashloop" in listed
    assert "seed-pending" in listed


def test_unknown_scenario_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match=r"unknown scenario 'nope'.*seed-crashloop"):
        main(["sandbox", "up", "--scenario", "nope"])


@pytest.mark.kubectl
def test_up_serves_the_seed_scenarios_to_kubectl_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "sandbox.kubeconfig"
    command = [
        sys.executable,
        "-m",
        "smart_sre.cli",
        "sandbox",
        "up",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        "--scenario",
        "seed-crashloop",
        "--scenario",
        "seed-pending",
        "--time-scale",
        "20",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert kubeconfig.exists(), "sandbox up wrote no kubeconfig"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        statuses: set[str] = set()
        while time.monotonic() < deadline and not {"CrashLoopBackOff", "Pending"} <= statuses:
            out = subprocess.run(
                [kubectl_path(), "get", "pods", "--no-headers"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            statuses = {line.split()[2] for line in out.splitlines()}
            time.sleep(0.2)
        assert {"CrashLoopBackOff", "Pending"} <= statuses
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"export KUBECONFIG={kubeconfig.resolve()}" in output
    assert "stopping sandbox" in output
