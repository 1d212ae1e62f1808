"""The `sandbox` fixture's kubectl: each sandbox gets a kubectl discovery cache of its own."""

from pathlib import Path

import pytest

from smart_sre_harness.testing import DEFAULT_TIME_SCALE, RunningSandbox

pytestmark = pytest.mark.kubectl

WIDGET_CRDS = Path(__file__).parent / "data" / "crds.yaml"


def test_a_later_sandbox_on_the_same_port_shows_kubectl_only_its_own_types(tmp_path: Path) -> None:
    first = RunningSandbox(tmp_path / "first.kubeconfig", time_scale=DEFAULT_TIME_SCALE)
    try:
        first.kubectl("apply", "-f", str(WIDGET_CRDS))
        first.kubectl("wait", "--for=condition=established", "crd", "--all", "--timeout=10s")
        assert "No resources found" in first.kubectl("get", "wr", "-A").stderr
        port = first.sandbox.port
    finally:
        first.close()
    second = RunningSandbox(tmp_path / "second.kubeconfig", port=port, time_scale=DEFAULT_TIME_SCALE)
    try:
        stale = second.kubectl("get", "wr", "-A", check=False)
        assert stale.returncode != 0
        assert 'the server doesn\'t have a resource type "wr"' in stale.stderr
    finally:
        second.close()
