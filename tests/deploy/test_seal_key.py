"""The seal key survives operator restarts: the shipped pod reads it from the Secret smart-sre-seal-key,
mounted into the operator container alone, and without that Secret the operator still starts."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from smart_sre.commands.wiring import load_seal_key
from smart_sre.lifecycle.approval import MIN_SEAL_KEY_BYTES

from .conftest import containers, one, render

SECRET = "smart-sre-seal-key"


def _seal_volumes(target: str) -> dict[str, dict]:
    pod = one(render(target), "Deployment")["spec"]["template"]["spec"]
    return {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}


def test_the_seal_key_secret_is_mounted_read_only_into_the_operator_alone(target: str) -> None:
    volumes = _seal_volumes(target)
    assert [volume["secretName"] for volume in volumes.values()] == [SECRET]  # the only Secret volume
    ((name, volume),) = volumes.items()
    assert volume["optional"] is True  # a missing Secret does not keep the pod from starting
    assert volume["items"] == [{"key": "key", "path": "key"}]
    assert volume["defaultMode"] & 0o007 == 0, "nobody outside the pod's group reads the key"

    found = containers(render(target))
    mounting = {
        container_name: mount
        for container_name, container in found.items()
        for mount in container.get("volumeMounts") or []
        if mount["name"] == name
    }
    assert list(mounting) == ["operator"]
    mount = mounting["operator"]
    assert mount["readOnly"] is True
    env = {e["name"]: e.get("value") for e in found["operator"]["env"]}
    assert env["SMART_SRE_SEAL_KEY_FILE"] == f"{mount['mountPath']}/key"
    for container_name, container in found.items():
        if container_name != "operator":
            assert "SMART_SRE_SEAL_KEY_FILE" not in {e["name"] for e in container.get("env") or []}


def test_mounting_the_secret_needs_no_rbac_on_secrets(target: str) -> None:
    """The kubelet mounts the volume; the operator's roles still grant nothing on Secrets."""
    for role in (o for o in render(target) if o["kind"] in ("ClusterRole", "Role")):
        for rule in role["rules"]:
            assert "secrets" not in rule.get("resources", []), role["metadata"]["name"]


def test_the_mounted_key_is_the_same_after_a_restart(tmp_path: Path) -> None:
    key_file = tmp_path / "seal" / "key"
    key_file.parent.mkdir()
    key_file.write_text("ab" * MIN_SEAL_KEY_BYTES + "\n")  # as `openssl rand -hex 32` and a Secret give it
    assert load_seal_key(key_file) == load_seal_key(key_file)
    assert load_seal_key(key_file).secret == b"ab" * MIN_SEAL_KEY_BYTES


def test_without_the_secret_the_operator_runs_on_a_key_held_in_memory_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The optional volume of a missing Secret is an empty, read-only directory."""

    def read_only(*_args: object, **_kwargs: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("smart_sre.lifecycle.approval.tempfile.mkstemp", read_only)
    key_file = tmp_path / "seal" / "key"
    key_file.parent.mkdir()
    with caplog.at_level(logging.WARNING, logger="smart_sre.commands.wiring"):
        first, second = load_seal_key(key_file), load_seal_key(key_file)
    assert first != second  # a restarted operator would not recognise the first pod's seals
    assert len(first.secret) >= MIN_SEAL_KEY_BYTES
    assert not key_file.exists()
    warning = caplog.records[0]
    assert warning.levelno == logging.WARNING
    assert SECRET in warning.getMessage()
    assert warning.path == str(key_file)  # type: ignore[attr-defined]


def test_a_key_file_that_exists_but_cannot_be_read_stops_the_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken mount is not a missing Secret: the operator does not quietly seal with another key."""
    key_file = tmp_path / "key"
    key_file.write_text("ab" * MIN_SEAL_KEY_BYTES)

    def unreadable(self: Path) -> bytes:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    with pytest.raises(PermissionError):
        load_seal_key(key_file)
