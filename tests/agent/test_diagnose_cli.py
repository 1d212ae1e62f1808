"""`smart-sre diagnose pod NAMESPACE/NAME` against the sandbox, with the in-process model ($SMART_SRE_MODEL:
Gemma 3 270M, tests/conftest.py)."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from smart_sre.commands import diagnose

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="smart-sre")
    diagnose.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _crashlooping_checkout(sandbox) -> str:
    def find():
        for pod in sandbox.list("pods", "default"):
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            waiting = [((s.get("state") or {}).get("waiting") or {}).get("reason") for s in statuses]
            if pod["metadata"]["name"].startswith("checkout") and "CrashLoopBackOff" in waiting:
                return pod["metadata"]["name"]
        return None

    return sandbox.wait_for(find, timeout=30)


@pytest.fixture
def no_sidecar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART_SRE_INFERENCE_URL", "http://127.0.0.1:9")  # nothing answers: in-process model


def test_diagnose_prints_steps_findings_and_a_diff(sandbox, no_sidecar, capsys) -> None:
    sandbox.apply("seed-crashloop")
    name = _crashlooping_checkout(sandbox)
    before = sandbox.get("deployments", "default", "checkout")
    assert _run(["diagnose", "pod", f"default/{name}", "--kubeconfig", str(sandbox.kubeconfig)]) == 0
    out = capsys.readouterr().out
    assert "[0] Evidence" in out
    assert "Root cause: BadConfigValue" in out
    assert '"op": "test"' in out
    assert re.search(r"^-\s+value: redis$", out, re.MULTILINE)
    assert re.search(r"^\+\s+value: redis-master$", out, re.MULTILINE)
    after = sandbox.get("deployments", "default", "checkout")
    assert after["spec"] == before["spec"], "diagnose must change nothing"
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


def test_diagnose_json_has_the_report_status_shapes(sandbox, no_sidecar, capsys) -> None:
    sandbox.apply("seed-crashloop")
    name = _crashlooping_checkout(sandbox)
    assert (
        _run(["diagnose", "pod", f"default/{name}", "--json", "--kubeconfig", str(sandbox.kubeconfig)]) == 0
    )
    body = json.loads(capsys.readouterr().out)
    assert body["findings"]["rootCause"] == "BadConfigValue"
    assert body["reasoningChain"][0]["index"] == 0
    assert set(body["suggestedPatch"]) >= {"target", "operations", "sha256"}


def test_diagnose_explains_bad_input(capsys) -> None:
    assert _run(["diagnose", "pod", "no-namespace"]) == 2
    assert "expected NAMESPACE/NAME" in capsys.readouterr().err
