"""`make demo` (the README's first command) shows the whole loop: failure, report, approval, recovery."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SMART_SRE = str(Path(sys.executable).parent / "smart-sre")


@pytest.mark.e2e
@pytest.mark.model
@pytest.mark.slow
def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    run = subprocess.run(
        [SMART_SRE, "demo", "--port", "0", "--exit", "--kubeconfig", str(tmp_path / "kubeconfig")],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert "CrashLoopBackOff" in out
    assert "Pending" in out
    assert "Connection refused to redis:6379" in out  # the evidence in `kubectl sre show`
    assert "ROOT CAUSE" in out
    assert "AwaitingApproval" in out
    assert "approved (apply, sha256" in out
    after_approval = out[out.index("approved (apply, sha256") :]
    assert "Applied" in after_approval
    assert "Verified=True" in after_approval, after_approval[:3000]
    assert re.search(r"checkout-\S+\s+1/1\s+Running", after_approval)  # the checkout pod recovered
    assert (tmp_path / "kubeconfig").exists()  # left for exploring with kubectl
