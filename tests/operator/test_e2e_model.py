"""The whole loop with the real sidecar and the suite's model (Gemma 3 270M, tests/conftest.py): the
seed's two cases, end to end.

Pod failure → report → analysis by the model → AwaitingApproval → approval with kubectl → Applied and
Verified; an operator killed mid-analysis; a sidecar that is down at first, then dies mid-analysis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from smart_sre_harness.processes import Operator, Sidecar
from smart_sre_sandbox.cli import builtin_scenarios

from .scenario import REPO
from .seeding import admin_approval

pytestmark = [
    pytest.mark.usefixtures("kubectl_plugin"),
    pytest.mark.e2e,
    pytest.mark.model,
    pytest.mark.kubectl,
    pytest.mark.slow,
]

ANALYSIS_TIMEOUT = 240.0  # Gemma 3 270M on two shared CPU cores


@pytest.fixture
def sidecar(tmp_path) -> Iterator[Sidecar]:
    process = Sidecar(tmp_path / "sidecar.log")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def operator_with_sidecar(operator_process: Operator, sidecar: Sidecar) -> Operator:
    operator_process.env["SMART_SRE_INFERENCE_URL"] = sidecar.url
    return operator_process


def only_report(sandbox) -> dict:
    reports = sandbox.list("diagnosticreports", "default")
    assert len(reports) == 1, [r["metadata"]["name"] for r in reports]
    return reports[0]


def phase(sandbox) -> str | None:
    reports = sandbox.list("diagnosticreports", "default")
    return reports[0].get("status", {}).get("phase") if reports else None


def scenario_file(name: str) -> Path:
    return builtin_scenarios()[name]


def expected_root_cause(name: str) -> str:
    documents = yaml.safe_load_all(scenario_file(name).read_text())
    return next(d for d in documents if d["kind"] == "Scenario")["spec"]["expected"]["rootCause"]


def seed_policy() -> dict:
    """The seed's policy (deploy/examples/debugpolicy-seed.yaml) with both seed triggers and a short grace."""
    policy = yaml.safe_load((REPO / "deploy" / "examples" / "debugpolicy-seed.yaml").read_text())
    policy["spec"].update(triggers=["CrashLoopBackOff", "Pending"], pendingGracePeriod="1s")
    return policy


def approved_and_verified(sandbox, name: str) -> dict:
    sandbox.wait_for(lambda: phase(sandbox) == "Applied", timeout=30)
    verification = sandbox.wait_for(lambda: only_report(sandbox)["status"].get("verification"), timeout=120)
    assert verification["result"] == "Verified", verification
    return only_report(sandbox)


def test_seed_pending_case_from_failure_to_verified_fix(sandbox, sidecar, operator_with_sidecar):
    sidecar.start().wait_ready()
    sandbox.run(sandbox.sandbox.apply([seed_policy()]))
    sandbox.apply(scenario_file("seed-pending"))
    operator_with_sidecar.start().wait_alive()

    # Killed mid-analysis (its first step is in the report): the restarted operator analyses again.
    sandbox.wait_for(
        lambda: phase(sandbox) == "Analyzing" and only_report(sandbox)["status"].get("reasoningChain"),
        timeout=120,
    )
    operator_with_sidecar.stop(kill=True)
    operator_with_sidecar.start().wait_alive()
    sandbox.wait_for(lambda: phase(sandbox) == "AwaitingApproval", timeout=ANALYSIS_TIMEOUT)

    report = only_report(sandbox)
    status = report["status"]
    assert report["spec"]["trigger"] == "Pending"
    assert status["findings"]["rootCause"] == expected_root_cause("seed-pending")
    assert "Insufficient memory" in status["reasoningChain"][0]["observation"]
    assert status["model"]["name"] == "gemma-3-270m-q4_k_m"
    patch = status["suggestedPatch"]
    assert (patch["target"]["kind"], patch["target"]["name"]) == ("Deployment", "report-generator")

    name = report["metadata"]["name"]
    approval = admin_approval(patch["sha256"])
    sandbox.kubectl("patch", "dr", name, "--type", "merge", "-p", json.dumps(approval))
    approved_and_verified(sandbox, name)


def inference_unavailable(sandbox) -> bool:
    reports = sandbox.list("diagnosticreports", "default")
    conditions = reports[0].get("status", {}).get("conditions", []) if reports else []
    return any(c["type"] == "InferenceUnavailable" and c["status"] == "True" for c in conditions)


def test_seed_crashloop_case_survives_the_sidecar_down_and_dying_mid_analysis(
    sandbox, sidecar, operator_with_sidecar
):
    sandbox.run(sandbox.sandbox.apply([seed_policy()]))
    sandbox.apply(scenario_file("seed-crashloop"))
    operator_with_sidecar.start().wait_alive()

    # Down from the start: the report waits, Pending, and says why.
    sandbox.wait_for(lambda: inference_unavailable(sandbox), timeout=90)
    assert phase(sandbox) == "Pending"

    # Up, then killed while the analysis is under way (its evidence step is already in the report).
    sidecar.start().wait_ready()
    sandbox.wait_for(
        lambda: phase(sandbox) == "Analyzing" and only_report(sandbox)["status"].get("reasoningChain"),
        timeout=120,
    )
    sidecar.stop(kill=True)
    sandbox.wait_for(lambda: phase(sandbox) == "Pending" and inference_unavailable(sandbox), timeout=60)
    assert "findings" not in only_report(sandbox)["status"]  # no answer made up without the model

    # Back again: the analysis restarts from a clean chain and completes.
    sidecar.start().wait_ready()
    sandbox.wait_for(lambda: phase(sandbox) == "AwaitingApproval", timeout=ANALYSIS_TIMEOUT)

    report = only_report(sandbox)
    status = report["status"]
    assert report["spec"]["workloadRef"]["name"] == "checkout"
    assert status["findings"]["rootCause"] == expected_root_cause("seed-crashloop")
    assert any("redis:6379" in step.get("observation", "") for step in status["reasoningChain"])
    recovered = next(c for c in status["conditions"] if c["type"] == "InferenceUnavailable")
    assert recovered["status"] == "False"

    name = report["metadata"]["name"]
    approved = sandbox.kubectl("sre", "approve", name, "--yes")
    assert status["suggestedPatch"]["sha256"] in approved.stdout
    approved_and_verified(sandbox, name)
    pods = sandbox.list("pods", "default", label_selector="component=checkout")
    assert any(p["status"].get("phase") == "Running" for p in pods)
