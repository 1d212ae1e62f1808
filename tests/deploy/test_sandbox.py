"""The rendered base, applied with the real kubectl, brings up the operator pod on the sandbox.

The sandbox serves no RBAC and no NetworkPolicy API (it enforces neither), so those objects are the
only ones left out; test_rbac.py and test_manifests.py check them as rendered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .conftest import render

IMAGES = Path(__file__).parent / "sandbox-images.yaml"
NOT_SERVED = {"rbac.authorization.k8s.io", "networking.k8s.io"}


def _group(obj: dict) -> str:
    return obj["apiVersion"].rpartition("/")[0]


@pytest.mark.kubectl
@pytest.mark.slow
def test_rendered_base_brings_up_the_operator_pod(sandbox) -> None:
    objects = render("base")
    served = [obj for obj in objects if _group(obj) not in NOT_SERVED]
    assert {obj["kind"] for obj in objects if obj not in served} == {
        "ClusterRole",
        "ClusterRoleBinding",
        "NetworkPolicy",
    }
    sandbox.apply(IMAGES)

    applied = sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(served)).stdout
    assert "deployment.apps/smart-sre created" in applied

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
