"""The whole rendered base, applied with the real kubectl, brings up the operator pod on the sandbox.

The sandbox stores the ClusterRoles, their binding and the NetworkPolicy without enforcing them;
test_rbac.py and test_manifests.py check what they grant as rendered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .conftest import created_line, render

IMAGES = Path(__file__).parent / "sandbox-images.yaml"


@pytest.mark.kubectl
@pytest.mark.slow
def test_rendered_base_brings_up_the_operator_pod(sandbox) -> None:
    objects = render("base")
    sandbox.apply(IMAGES)

    applied = sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects)).stdout
    assert sorted(applied.splitlines()) == sorted(created_line(obj) for obj in objects)
    binding = sandbox.kubectl("get", "clusterrolebinding", "smart-sre-operator").stdout
    assert "ClusterRole/smart-sre-operator" in binding

    def available() -> bool:
        status = sandbox.get("deployments", "smart-sre", "smart-sre").get("status") or {}
        return status.get("availableReplicas") == 1

    sandbox.wait_for(available, timeout=60)
    pods = sandbox.list("pods", "smart-sre", label_selector="app.kubernetes.io/name=smart-sre")
    assert len(pods) == 1
    status = pods[0]["status"]
    assert status["phase"] == "Running"
    assert {c["name"]: c["ready"] for c in status["containerStatuses"]} == {
        "operator": True,
        "inference": True,
    }
    assert [c["state"]["terminated"]["reason"] for c in status["initContainerStatuses"]] == ["Completed"]
    shown = sandbox.kubectl("get", "deployment", "smart-sre", "-n", "smart-sre").stdout
    assert "1/1" in shown
