"""Weights are trusted only by their sha256: at every start, and on every install of a bundle.

An attacker who can write the models volume edits the file in place and puts its mtime back; one
who can hand over a bundle forges one whose own lock entry matches its own weights.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
import tomli_w

from smart_sre_inference import bundle
from smart_sre_inference import lock as lockfile
from smart_sre_inference.lock import ModelsLock

from .test_models_lock import WEIGHTS, _cli, _entry

FORGED = b"GGUF" + bytes(reversed(range(256))) * 64  # as long as WEIGHTS: a size check passes


class Host:
    """A host whose models.lock pins `tiny`: the lock and the weights folder."""

    def __init__(self, root: Path) -> None:
        self.lock, self.models = root / "models.lock", root / "models"
        self.models.mkdir(parents=True)
        lockfile.save(ModelsLock(default="tiny", models=[_entry()]), self.lock)

    def cli(self, *argv: str) -> int:
        return _cli(*argv, "--lock", str(self.lock), "--models-dir", str(self.models))


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path / "host")


def _edit_in_place_keeping_mtime(path: Path) -> None:
    """Same inode, same size, same mtime: only the bytes tell."""
    before = path.stat()
    with path.open("r+b") as file:
        file.seek(len(WEIGHTS) // 2)
        file.write(b"\x00" * 16)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def test_an_in_place_edit_with_the_mtime_restored_is_refused_at_start(
    host: Host, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMART_SRE_MODEL", raising=False)  # serve the host lock's default, `tiny`
    weights = host.models / "tiny.gguf"
    weights.write_bytes(WEIGHTS)
    assert host.cli("models", "verify") == 0
    _edit_in_place_keeping_mtime(weights)
    assert host.cli("inference", "serve", "--port", "0") == 1
    err = capsys.readouterr().err
    assert "refusing to serve" in err
    assert "sha256 mismatch" in err
    assert hashlib.sha256(weights.read_bytes()).hexdigest() in err


def test_verify_hashes_every_time(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    weights = host.models / "tiny.gguf"
    weights.write_bytes(WEIGHTS)
    assert host.cli("models", "verify") == 0
    _edit_in_place_keeping_mtime(weights)
    assert host.cli("models", "verify") == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert [p.name for p in host.models.iterdir()] == ["tiny.gguf"], "no verdict is kept beside the weights"


def _bundle(tmp_path: Path, name: str = "tiny", data: bytes = FORGED, file: str = "tiny.gguf") -> Path:
    """A self-consistent bundle: its own lock entry matches its own weights."""
    entry = _entry(name, data).model_copy(update={"file": file})
    source = tmp_path / "maker"
    source.mkdir()
    (source / file).write_bytes(data)
    return bundle.create([entry], source, tmp_path / "bundle.tar")


def _read_only(lock: ModelsLock, path: Path) -> None:
    raise OSError(30, "Read-only file system", str(path))


@pytest.mark.parametrize(("name", "what"), [("tiny", "pins 'tiny' to sha256"), ("evil", "would overwrite")])
def test_install_never_replaces_a_pinned_entry(
    host: Host, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, what: str
) -> None:
    """A forged bundle re-pinning `tiny` (or overwriting its file under another name) is refused."""
    (host.models / "tiny.gguf").write_bytes(WEIGHTS)
    before = host.lock.read_bytes()
    assert host.cli("models", "install", str(_bundle(tmp_path, name=name))) == 1
    err = capsys.readouterr().err
    assert what in err
    assert _entry().sha256 in err
    assert "never replaces a pinned entry" in err
    assert host.lock.read_bytes() == before
    assert (host.models / "tiny.gguf").read_bytes() == WEIGHTS
    assert [p.name for p in host.models.iterdir()] == ["tiny.gguf"]


def test_installing_what_is_already_pinned_never_writes_the_lock(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock in an image is read-only: the model image's init container installs against it."""
    archive = _bundle(tmp_path, data=WEIGHTS)
    monkeypatch.setattr(lockfile, "save", _read_only)
    assert host.cli("models", "install", str(archive)) == 0
    assert (host.models / "tiny.gguf").read_bytes() == WEIGHTS


def test_a_model_the_read_only_lock_does_not_pin_is_refused_clearly(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _bundle(tmp_path, name="other", file="other.gguf")
    monkeypatch.setattr(lockfile, "save", _read_only)
    assert host.cli("models", "install", str(archive)) == 1
    err = capsys.readouterr().err
    assert f"cannot add other to {host.lock}" in err
    assert "pin the model in models.lock on the connected side" in err
    assert not (host.models / "other.gguf").exists()


def _tar(path: Path, members: dict[str, bytes], symlink: tuple[str, str] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink is not None:
            info = tarfile.TarInfo(symlink[0])
            info.type, info.linkname = tarfile.SYMTYPE, symlink[1]
            tar.addfile(info)
    return path


def _lock_text(file: str) -> bytes:
    """A bundle's models.lock whose entry names `file` (unchecked, as a forger writes it)."""
    return tomli_w.dumps({"default": "tiny", "model": [{**_entry().model_dump(), "file": file}]}).encode()


@pytest.mark.parametrize(
    ("members", "symlink"),
    [
        ({"models.lock": _lock_text("../../escaped.gguf"), "weights/../../escaped.gguf": WEIGHTS}, None),
        ({"models.lock": _lock_text("tiny.gguf")}, ("weights/tiny.gguf", "../../escaped.gguf")),
        ({"models.lock": b"not toml ["}, None),
        ({"weights/tiny.gguf": WEIGHTS}, None),
    ],
    ids=["path-in-file-name", "symlinked-weights", "broken-lock", "no-lock"],
)
def test_a_malformed_bundle_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    members: dict[str, bytes],
    symlink: tuple[str, str] | None,
) -> None:
    archive = _tar(tmp_path / "bad.tar", members, symlink)
    far = tmp_path / "far" / "models"
    far_lock = tmp_path / "far" / "models.lock"
    assert _cli("models", "install", str(archive), "--lock", str(far_lock), "--models-dir", str(far)) == 1
    assert "error:" in capsys.readouterr().err
    assert not far_lock.exists()
    assert not list(tmp_path.rglob("escaped.gguf"))
    assert list(far.iterdir()) == []
