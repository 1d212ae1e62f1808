"""Rendered overlays, shared by the deploy tests: `kubectl kustomize` runs once per overlay and session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from smart_sre_harness.testing import kubectl_path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("cpu", "gpu", "airgap")
TARGETS = ("base", *(f"overlays/{name}" for name in OVERLAYS))

_rendered: dict[str, list[dict]] = {}


def render(target: str) -> list[dict]:
    """The objects of deploy/<target> as the real `kubectl kustomize` renders them."""
    if target not in _rendered:
        result = subprocess.run(
            [kubectl_path(), "kustomize", str(DEPLOY / target)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, f"kubectl kustomize deploy/{target} failed:\n{result.stderr}"
        _rendered[target] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return _rendered[target]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def created_line(obj: dict) -> str:
    """How `kubectl apply` reports an object it created: kind.group/name created."""
    group = obj["apiVersion"].rpartition("/")[0]
    return f"{obj['kind'].lower()}{'.' + group if group else ''}/{obj['metadata']['name']} created"


def containers(objects: list[dict], target_kind: str = "Deployment") -> dict[str, dict]:
    pod = one(objects, target_kind)["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*(pod.get("initContainers") or []), *pod["containers"]]}


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    return request.param
