"""`smart-sre bundle create|verify|install`: one archive, trusted only when every byte checks out."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from smart_sre.commands import bundle
from smart_sre_inference import lock as lockfile
from smart_sre_inference.lock import ModelEntry, ModelsLock, PathSource

from .conftest import DEPLOY, created_line

SANDBOX_IMAGES = Path(__file__).parent / "sandbox-images.yaml"
AIRGAP_REGISTRY = "registry.example.internal/smart-sre"  # deploy/overlays/airgap's image names
WEIGHTS = b"GGUF" + bytes(range(256)) * 64  # a stand-in: the bundle code checks hashes, never loads it
DIGESTS = {
    "ghcr.io/smart-sre/operator:0.1.0": "sha256:" + "1" * 64,
    "ghcr.io/smart-sre/inference-cpu:0.1.0": "sha256:" + "2" * 64,
    "ghcr.io/smart-sre/inference-cuda:0.1.0": "sha256:" + "3" * 64,
    "ghcr.io/smart-sre/model:gemma-3-270m-q4_k_m": "sha256:" + "4" * 64,
}


def smart_sre_bundle(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="smart-sre")
    bundle.register(parser.add_subparsers(required=True))
    args = parser.parse_args(["bundle", *argv])
    return args.func(args)


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lock with one small model whose verified weights are on disk."""
    directory = tmp_path / "models"
    directory.mkdir()
    (directory / "tiny.gguf").write_bytes(WEIGHTS)
    entry = ModelEntry(
        name="tiny",
        source=PathSource(path=str(directory / "tiny.gguf")),
        file="tiny.gguf",
        sha256=hashlib.sha256(WEIGHTS).hexdigest(),
        size=len(WEIGHTS),
        quantization="F32",
        licence="test",
        context_length=512,
        chat_template="{{ messages }}",
    )
    lock = tmp_path / "models.lock"
    lockfile.save(ModelsLock(default="tiny", models=[entry]), lock)
    monkeypatch.setenv(lockfile.LOCK_ENV, str(lock))
    monkeypatch.setenv(lockfile.MODELS_DIR_ENV, str(directory))
    return directory


@pytest.fixture
def created(tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    digests = tmp_path / "digests.json"
    digests.write_text(json.dumps(DIGESTS))
    archive = tmp_path / "out" / "smart-sre.tar.gz"
    code = smart_sre_bundle(
        "create", "-o", str(archive), "--deploy-dir", str(DEPLOY), "--image-digests", str(digests)
    )
    out = capsys.readouterr().out
    assert code == 0, out
    published = out.split("sha256 ", 1)[1].split()[0]
    return archive, published


@pytest.mark.kubectl
def test_a_created_bundle_verifies(created: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    archive, published = created
    assert smart_sre_bundle("verify", str(archive), "--sha256", published) == 0
    out = capsys.readouterr().out
    assert "every checksum matches" in out
    assert "overlays: cpu, gpu, airgap; models: tiny" in out
    assert f"ghcr.io/smart-sre/operator:0.1.0@{DIGESTS['ghcr.io/smart-sre/operator:0.1.0']}" in out


@pytest.mark.kubectl
def test_manifests_are_rendered_per_overlay_and_pinned_by_digest(created: tuple[Path, str]) -> None:
    archive, _ = created
    with bundle.opened(archive) as (content, manifest):
        assert manifest.overlays == ["cpu", "gpu", "airgap"]
        airgap = list(yaml.safe_load_all((content / "manifests" / "airgap.yaml").read_text()))
        sums = (content / bundle.CHECKSUMS).read_text()
    pod = next(o for o in airgap if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["containers"]} == {
        f"registry.example.internal/smart-sre/operator:0.1.0@{DIGESTS['ghcr.io/smart-sre/operator:0.1.0']}",
        f"registry.example.internal/smart-sre/inference-cpu:0.1.0@{DIGESTS['ghcr.io/smart-sre/inference-cpu:0.1.0']}",
    }
    assert {line.split()[1] for line in sums.splitlines()} == {
        "bundle.json",
        "models.tar",
        "manifests/cpu.yaml",
        "manifests/gpu.yaml",
        "manifests/airgap.yaml",
    }


@pytest.mark.kubectl
@pytest.mark.parametrize("where", [0.0, 0.3, 0.7, 1.0])
def test_one_corrupted_byte_is_refused(
    created: tuple[Path, str], where: float, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, _ = created
    data = bytearray(archive.read_bytes())
    index = min(int(len(data) * where), len(data) - 1)
    data[index] ^= 0x01
    archive.write_bytes(bytes(data))
    assert smart_sre_bundle("verify", str(archive)) == 1
    err = capsys.readouterr().err
    assert "error:" in err
    assert "corrupt" in err or "not a smart-sre bundle" in err


@pytest.mark.kubectl
def test_a_different_archive_is_refused_by_its_published_sha256(
    created: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    archive, published = created
    wrong = ("0" if published[0] != "0" else "1") + published[1:]
    assert smart_sre_bundle("verify", str(archive), "--sha256", wrong) == 1
    assert "do not install it" in capsys.readouterr().err


@pytest.mark.kubectl
def test_images_without_digests_are_refused_unless_allowed(
    tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "b.tar.gz"
    assert smart_sre_bundle("create", "-o", str(archive), "--deploy-dir", str(DEPLOY)) == 1
    assert "no digest for ghcr.io/smart-sre/operator:0.1.0" in capsys.readouterr().err
    assert not archive.exists()
    args = ("create", "-o", str(archive), "--deploy-dir", str(DEPLOY), "--overlay", "cpu")
    assert smart_sre_bundle(*args, "--allow-missing-digests") == 0
    assert smart_sre_bundle("verify", str(archive)) == 0
    assert "(no digest: pinned by tag only)" in capsys.readouterr().out


@pytest.mark.kubectl
def test_install_dry_run_prints_what_it_would_apply_and_changes_nothing(
    created: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, published = created
    target = tmp_path / "pvc"
    code = smart_sre_bundle(
        "install", str(archive), "--sha256", published, "--models-dir", str(target), "--dry-run"
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"would install models tiny into {target}" in out
    assert "  Deployment/smart-sre -n smart-sre" in out
    assert "  PersistentVolumeClaim/smart-sre-models -n smart-sre" in out
    assert not target.exists()


def _mirrored_images(objects: list[dict]) -> list[dict]:
    """The sandbox's images as the air-gapped registry serves them: mirrored, and pulled by digest."""
    by_base = {
        doc["metadata"]["name"].rsplit("/", 1)[1]: doc
        for doc in yaml.safe_load_all(SANDBOX_IMAGES.read_text())
    }
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    mirrored = []
    for container in [*(pod.get("initContainers") or []), *pod["containers"]]:
        name, digest = container["image"].split("@")
        repository = name.rsplit(":", 1)[0]
        assert repository.startswith(AIRGAP_REGISTRY + "/")
        original = by_base[repository.rsplit("/", 1)[1]]
        mirrored.append(
            {**original, "metadata": {"name": repository}, "spec": {**original["spec"], "tags": [digest]}}
        )
    return mirrored


@pytest.mark.kubectl
@pytest.mark.slow
def test_install_puts_the_models_in_place_and_applies_the_manifests_to_the_cluster(
    created: tuple[Path, str],
    tmp_path: Path,
    sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive, published = created
    with bundle.opened(archive) as (content, _):
        objects = [o for o in yaml.safe_load_all((content / "manifests" / "airgap.yaml").read_text()) if o]
    sandbox.apply(_mirrored_images(objects))
    monkeypatch.setenv("KUBECACHEDIR", sandbox.kubectl_env()["KUBECACHEDIR"])
    models_dir, lock = tmp_path / "pvc", tmp_path / "airgapped" / "models.lock"
    lock.parent.mkdir()

    code = smart_sre_bundle(
        "install",
        str(archive),
        "--sha256",
        published,
        "--models-dir",
        str(models_dir),
        "--lock",
        str(lock),
        "--kubeconfig",
        str(sandbox.kubeconfig),
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert (models_dir / "tiny.gguf").read_bytes() == WEIGHTS
    assert [m.name for m in lockfile.load(lock).models] == ["tiny"]
    assert "installed model tiny" in out.out
    applied = [line for line in out.out.splitlines() if line.endswith(" created")]
    assert sorted(applied) == sorted(created_line(obj) for obj in objects)
    assert sandbox.get("clusterroles", None, "smart-sre-operator")["rules"]
    assert sandbox.get("networkpolicies", "smart-sre", "smart-sre")

    def available() -> bool:
        status = sandbox.get("deployments", "smart-sre", "smart-sre").get("status") or {}
        return status.get("availableReplicas") == 1

    sandbox.wait_for(available, timeout=60)
    claim = sandbox.get("persistentvolumeclaims", "smart-sre", "smart-sre-models")
    assert claim["status"]["phase"] == "Bound"
