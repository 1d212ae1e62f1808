"""End to end with real Kopf on the sandbox: a report naming a policy that does not exist says so, and
is analysed once the policy is created (the sidecar is down here, so the analysis waits for it)."""

from __future__ import annotations

import pytest

from . import scenario
from .reading import condition, report_now
from .test_policy_condition import REPORT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = REPORT["metadata"]["name"]


def orphan_report() -> dict:
    """A report as the operator opens one, naming the seed's policy, which does not exist yet."""
    spec = {**REPORT["spec"], "policyRef": {"name": scenario.policy()["metadata"]["name"]}}
    return {
        "apiVersion": REPORT["apiVersion"],
        "kind": REPORT["kind"],
        "metadata": {"name": NAME, "namespace": "default"},
        "spec": spec,
    }


def test_a_report_without_its_policy_says_so_until_the_policy_exists(sandbox, operator_process):
    sandbox.apply([orphan_report()])
    operator_process.start().wait_alive()

    def policy_ready() -> dict | None:
        return condition(report_now(sandbox, NAME), "PolicyReady")

    missing = sandbox.wait_for(policy_ready, timeout=30)
    assert (missing["status"], missing["reason"]) == ("False", "PolicyNotFound")
    assert "create it" in missing["message"]
    assert (report_now(sandbox, NAME).get("status") or {}).get("phase", "Pending") == "Pending"

    sandbox.apply([scenario.policy()])
    ready = sandbox.wait_for(lambda: (c := policy_ready()) and c["status"] == "True" and c, timeout=30)
    assert ready["reason"] == "Active"
    # The analysis started and waits for the sidecar, which is down.
    sandbox.wait_for(lambda: condition(report_now(sandbox, NAME), "InferenceUnavailable"), timeout=30)
