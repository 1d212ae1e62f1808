"""Scenario files: Kubernetes objects plus sandbox-only documents (nodes, images, the scenario's description)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from smart_sre_harness.testing import RunningSandbox
from smart_sre_sandbox.cli import builtin_scenarios
from smart_sre_sandbox.cluster import read_documents, scenario_nodes

SCENARIO = textwrap.dedent(
    """
    apiVersion: sandbox.smartsre.io/v1alpha1
    kind: Scenario
    metadata: {name: cart-gpu}
    spec:
      expected: {rootCause: MissingConfig}
    ---
    apiVersion: sandbox.smartsre.io/v1alpha1
    kind: SandboxNode
    metadata: {name: gpu-1}
    spec:
      cpu: "8"
      memory: 32Gi
      labels: {accelerator: nvidia}
      taints: [{key: nvidia.com/gpu, value: "true", effect: NoSchedule}]
    ---
    apiVersion: sandbox.smartsre.io/v1alpha1
    kind: SandboxImage
    metadata: {name: registry.acme.internal/shop/cart}
    spec:
      tags: ["3.4.1"]
      language: node
      entrypoint: node
      port: 3000
      requiredEnv: [SESSION_SECRET]
    ---
    apiVersion: v1
    kind: Namespace
    metadata: {name: shop}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: cart, namespace: shop}
    spec:
      nodeSelector: {accelerator: nvidia}
      tolerations: [{key: nvidia.com/gpu, operator: Exists}]
      containers:
        - name: cart
          image: registry.acme.internal/shop/cart:3.4.1
    """
)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "cart-gpu.yaml"
    path.write_text(SCENARIO)
    return path


def test_sandbox_documents_add_nodes_and_images_and_the_description_is_not_applied(
    sandbox: RunningSandbox, scenario: Path
) -> None:
    applied = sandbox.apply(scenario)
    assert [o["kind"] for o in applied] == ["Namespace", "Pod"]
    cart = sandbox.wait_for(
        lambda: (p := sandbox.get("pods", "shop", "cart"))["status"].get("containerStatuses") and p,
        timeout=20,
    )
    assert cart["spec"]["nodeName"] == "gpu-1"
    logs = sandbox.wait_for(
        lambda: "SESSION_SECRET" in (text := sandbox.logs.read("shop", "cart", "cart", attempt=0)) and text
    )
    assert (
        logs
        == "> cart@3.4.1 start\n> node server.js\nError: Missing required environment variable: SESSION_SECRET\n"
    )


def test_declared_nodes_replace_the_default_ones(scenario: Path, tmp_path: Path) -> None:
    nodes = scenario_nodes([scenario])
    assert [n.name for n in nodes] == ["gpu-1"]
    running = RunningSandbox(tmp_path / "kubeconfig", nodes=nodes, time_scale=30)
    try:
        assert [n["metadata"]["name"] for n in running.list("nodes")] == ["gpu-1"]
        running.apply("seed-pending")
        event = running.wait_for(
            lambda: [e for e in running.list("events", "default") if e["reason"] == "FailedScheduling"]
        )
        assert event[0]["message"].startswith(
            "0/1 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: true}."
        )
    finally:
        running.close()


def test_unknown_sandbox_kinds_and_malformed_files_are_clear_errors(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sandbox.smartsre.io/v1alpha1\nkind: SandboxCluster\nmetadata: {name: x}\n")
    with pytest.raises(ValueError, match="unknown sandbox document kind 'SandboxCluster'"):
        sandbox.apply(bad)
    bad.write_text("just: a map\n")
    with pytest.raises(ValueError, match="every document needs apiVersion and kind"):
        read_documents(bad)


def test_built_in_scenarios_describe_their_expected_root_cause() -> None:
    for name, path in builtin_scenarios().items():
        described = [d for d in read_documents(path) if d["kind"] == "Scenario"]
        assert described, name
        assert described[0]["metadata"]["name"] == name
        assert described[0]["spec"]["expected"]["rootCause"]
