"""`smart-sre sandbox`: listing scenarios, and `up` serving kubectl until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smart_sre.commands.main import main
from smart_sre_harness.testing import kubectl_path


def test_scenarios_lists_the_built_in_seed_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "scenarios"]) == 0
    listed = capsys.readouterr().out
    assert "seed-crashloop" in listed
    assert "seed-pending" in listed


def test_unknown_scenario_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match=r"unknown scenario 'nope'.*seed-crashloop"):
        main(["sandbox", "up", "--scenario", "nope"])


def serving(process: subprocess.Popen[str]) -> dict[str, str]:
    """Read `sandbox up`'s banner until it serves; the variables it tells the user to export."""
    assert process.stdout is not None
    banner: list[str] = []
    while not banner or not banner[-1].startswith("Press Ctrl-C"):
        line = process.stdout.readline()
        assert line, "sandbox up exited before serving:\n" + "".join(banner)
        banner.append(line)
    return dict(
        line.strip().removeprefix("export ").split("=", 1)
        for line in banner
        if line.strip().startswith("export ")
    )


@pytest.mark.kubectl
def test_up_serves_the_seed_scenarios_to_kubectl_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "sandbox.kubeconfig"
    command = [
        sys.executable,
        "-m",
        "smart_sre.commands.main",
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
        exports = serving(process)
        assert exports["KUBECONFIG"] == str(kubeconfig.resolve())
        cache = Path(exports["KUBECACHEDIR"])
        assert cache.is_dir()
        assert not any(cache.iterdir()), "kubectl's discovery cache must start empty"
        env = {**os.environ, **exports}
        deadline = time.monotonic() + 30
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
        assert (cache / "discovery").is_dir(), "kubectl cached discovery in the folder the sandbox named"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopping sandbox" in output
    assert not cache.exists(), "the sandbox removes its kubectl cache when it stops"


@pytest.mark.kubectl
def test_up_with_debug_logging_serves_and_logs_without_errors(tmp_path: Path) -> None:
    kubeconfig, log = tmp_path / "sandbox.kubeconfig", tmp_path / "sandbox.log"
    command = [
        sys.executable,
        "-m",
        "smart_sre.commands.main",
        "--log-level",
        "DEBUG",
        "sandbox",
        "up",
        "--port",
        "0",
    ]
    command += ["--kubeconfig", str(kubeconfig), "--scenario", "seed-crashloop", "--time-scale", "20"]
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        env = {**os.environ, **serving(process)}
        subprocess.run([kubectl_path(), "get", "pods", "-A"], env=env, capture_output=True, check=True)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    logged = log.read_text()
    assert process.returncode == 0, logged
    assert "DEBUG smart_sre_sandbox.store created" in logged
    assert "Traceback" not in logged
