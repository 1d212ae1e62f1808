"""deploy/examples/audit: the audit file on a PersistentVolumeClaim, added to an install as a kustomize
Component and rendered by the real `kubectl kustomize`."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from ..deploy.conftest import DEPLOY, containers, one, render
from ..deploy.test_manifests import validate


def test_the_audit_component_gives_the_operator_alone_a_file_on_its_claim(tmp_path: Path) -> None:
    install = {
        "resources": [os.path.relpath(DEPLOY / "overlays" / "cpu", tmp_path)],
        "components": [os.path.relpath(DEPLOY / "examples" / "audit", tmp_path)],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(install))
    objects = render(str(tmp_path))
    for obj in objects:
        validate(obj)
    claim = one(objects, "PersistentVolumeClaim", "smart-sre-audit")
    assert claim["metadata"]["namespace"] == "smart-sre"
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "audit"]
    assert volume["persistentVolumeClaim"] == {"claimName": "smart-sre-audit"}
    by_name = containers(objects)
    operator = by_name.pop("operator")
    env = {variable["name"]: variable.get("value") for variable in operator["env"]}
    assert env["SMART_SRE_AUDIT_FILE"] == "/var/lib/smart-sre/audit/records.jsonl"
    (mount,) = [m for m in operator["volumeMounts"] if m["name"] == "audit"]
    assert mount == {"name": "audit", "mountPath": "/var/lib/smart-sre/audit"}  # writable
    assert env["SMART_SRE_SEAL_KEY_FILE"] == "/etc/smart-sre/seal/key"  # the install's settings are kept
    assert all(m["name"] != "audit" for c in by_name.values() for m in c.get("volumeMounts") or ())
