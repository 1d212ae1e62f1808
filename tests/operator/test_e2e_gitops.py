"""A Deployment that Argo CD deploys, end to end: the report says so, its fix comes out as a kustomize patch
that the real `kubectl kustomize` applies to the Deployment's manifest, and a live approval is refused.

The operator runs for real against the sandbox; its sidecar is a stand-in that is ready but answers every
model call with HTTP 400, so the analysis concludes from the analyzers' facts (as it does when the model
fails to answer), with the real owner chain, safety checks, dry run and seal.
"""

from __future__ import annotations

import copy
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from smart_sre_harness.processes import Operator
from smart_sre_harness.testing import kubectl_path

from . import scenario
from .reading import condition, report_now, reports
from .seeding import MEMORY

pytestmark = [
    pytest.mark.usefixtures("kubectl_plugin"),
    pytest.mark.e2e,
    pytest.mark.kubectl,
    pytest.mark.slow,
]

TRACKING_ID = "argocd.argoproj.io/tracking-id"


class _Sidecar(BaseHTTPRequestHandler):
    """Ready, and refuses every model call as a request it cannot serve (HTTP 400)."""

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/readyz":
            self._answer(200, {"ready": True})
        else:
            self._answer(400, {"error": {"code": "unsupported", "message": "no model here"}})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(400, {"error": {"code": "unsupported", "message": "no model here"}})

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def operator_without_model(sandbox, tmp_path: Path) -> Iterator[Operator]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sidecar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    process = Operator(
        sandbox.kubeconfig,
        f"http://127.0.0.1:{server.server_port}",
        tmp_path / "operator.log",
        kopf=True,
        env={"SMART_SRE_MODELS_LOCK": str(scenario.REPO / "models.lock")},
    )
    try:
        yield process
    finally:
        process.stop()
        server.shutdown()


def argo_deployment() -> dict:
    """The seed's unschedulable `ledger`, as Argo CD Application `shop` (in namespace argocd) deploys it."""
    manifest = scenario.memory_hungry()
    manifest["metadata"]["annotations"] = {TRACKING_ID: "argocd_shop:apps/Deployment:default/ledger"}
    return manifest


def test_an_argo_cd_deployment_gets_its_fix_as_a_kustomize_patch_and_no_live_apply(
    sandbox, operator_without_model, tmp_path
):
    manifest = argo_deployment()
    in_git = copy.deepcopy(manifest)
    sandbox.apply([scenario.policy(triggers=["Pending"], pendingGracePeriod="1s"), manifest])
    operator_without_model.start().wait_alive()

    report = sandbox.wait_for(
        lambda: next(
            (r for r in reports(sandbox) if r.get("status", {}).get("phase") == "AwaitingApproval"), None
        ),
        timeout=90,
    )
    name, status = report["metadata"]["name"], report["status"]
    managed = status["managedBy"]
    assert (managed["tool"], managed["kind"], managed["namespace"], managed["name"]) == (
        "ArgoCD",
        "Application",
        "argocd",
        "shop",
    )
    assert managed["certain"] is True
    assert managed["evidence"] == f"annotation {TRACKING_ID} on Deployment ledger"
    assert "reverts it at the next sync" in managed["note"]
    assert f"kubectl sre show {name} --as-kustomize-patch" in managed["note"]

    shown = sandbox.kubectl("sre", "show", name).stdout
    assert "GitOps\n  Managed by Argo CD Application argocd/shop" in shown
    assert f"Commit it to Git with: kubectl sre show {name} --as-kustomize-patch" in shown

    # The kustomize patch, added to a kustomization next to the manifest as it is in Git.
    changes = [op for op in status["suggestedPatch"]["operations"] if op["op"] != "test"]
    assert [op["path"] for op in changes] == [MEMORY]
    fixed_memory = changes[0]["value"]
    assert fixed_memory != "64Gi"
    patch_file = sandbox.kubectl("sre", "show", name, "--as-kustomize-patch").stdout
    assert "# Argo CD Application argocd/shop deploys it" in patch_file
    overlay = tmp_path / "git"
    overlay.mkdir()
    (overlay / "deployment.yaml").write_text(yaml.safe_dump(in_git))
    (overlay / "kustomization.yaml").write_text(patch_file + "resources:\n- deployment.yaml\n")
    built = subprocess.run(
        [kubectl_path(), "kustomize", str(overlay)], capture_output=True, text=True, check=True
    )
    fixed = yaml.safe_load(built.stdout)
    assert fixed["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {
        "memory": fixed_memory,
        "cpu": "100m",
    }
    fixed["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = "64Gi"
    assert fixed == in_git  # nothing else changed

    as_json = json.loads(sandbox.kubectl("sre", "show", name, "--as-json6902").stdout)
    assert as_json == changes

    # A live approval under the default policy (remediation.gitOpsManaged: Suggest) is refused.
    sandbox.kubectl("sre", "approve", name, "--yes")
    refused = sandbox.wait_for(
        lambda: (
            (c := condition(report_now(sandbox, name), "ApprovalRefused")) and c["status"] == "True" and c
        ),
        timeout=30,
    )
    assert refused["reason"] == "GitOpsManaged"
    assert f"`kubectl sre show {name} --as-kustomize-patch`" in refused["message"]
    assert "nothing was applied" in refused["message"]
    assert report_now(sandbox, name)["status"]["phase"] == "AwaitingApproval"
    live = sandbox.get("deployments", "default", "ledger")
    assert live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] == "64Gi"
