"""`smart-sre bundle create|sign|verify|install`: one archive, trusted only through an anchor held
outside it (the published sha256 or an ed25519 signature), and only when every byte checks out."""

from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
from pathlib import Path
from typing import NamedTuple

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
    "ghcr.io/smart-sre/model:qwen2.5-coder-0.5b-instruct-q4_k_m": "sha256:" + "4" * 64,
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


def _published(create_output: str) -> str:
    """The sha256 `bundle create` prints for the user to publish."""
    return create_output.split("sha256 ", 1)[1].split()[0]


class Keys(NamedTuple):
    private: Path
    public: Path


def _keygen(directory: Path) -> Keys:
    directory.mkdir(parents=True)
    keys = Keys(directory / "signing.pem", directory / "signing.pub.pem")
    assert (
        smart_sre_bundle("keygen", "--private-key", str(keys.private), "--public-key", str(keys.public)) == 0
    )
    return keys


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    """The release signer's key pair; the air-gapped side holds only the public half."""
    return _keygen(tmp_path / "keys")


@pytest.fixture
def created(tmp_path: Path, models: Path, keys: Keys, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A bundle, its published sha256, and its signature beside it (ARCHIVE.sig)."""
    digests = tmp_path / "digests.json"
    digests.write_text(json.dumps(DIGESTS))
    archive = tmp_path / "out" / "smart-sre.tar.gz"
    code = smart_sre_bundle(
        "create",
        "-o",
        str(archive),
        "--deploy-dir",
        str(DEPLOY),
        "--image-digests",
        str(digests),
        "--sign-key",
        str(keys.private),
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"signature {archive}.sig" in out
    return archive, _published(out)


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
    archive, published = created
    with bundle.opened(archive, bundle.TrustAnchor(sha256=published)) as (content, manifest, _):
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


def _flip_one_byte(archive: Path, where: float) -> None:
    data = bytearray(archive.read_bytes())
    data[min(int(len(data) * where), len(data) - 1)] ^= 0x01
    archive.write_bytes(bytes(data))


@pytest.mark.kubectl
@pytest.mark.parametrize("where", [0.0, 0.3, 0.7, 1.0])
def test_one_corrupted_byte_is_refused(
    created: tuple[Path, str], keys: Keys, where: float, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, published = created
    _flip_one_byte(archive, where)
    assert smart_sre_bundle("verify", str(archive), "--sha256", published) == 1
    assert smart_sre_bundle("verify", str(archive), "--public-key", str(keys.public)) == 1
    err = capsys.readouterr().err
    assert "do not install it" in err
    # Signed after the damage (the signer's own copy was bad): the checksums inside still catch it.
    assert smart_sre_bundle("sign", str(archive), "--private-key", str(keys.private)) == 0
    assert smart_sre_bundle("verify", str(archive), "--public-key", str(keys.public)) == 1
    err = capsys.readouterr().err
    assert "corrupt" in err or "not a smart-sre bundle" in err


def _forge(archive: Path, output: Path) -> Path:
    """The bundle, repacked with the operator bound to cluster-admin and SHA256SUMS made to agree."""
    staging = output.parent / "forging"
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(staging, filter="data")
    content = staging / bundle.PREFIX
    airgap = content / "manifests" / "airgap.yaml"
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "smart-sre-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "smart-sre", "namespace": "smart-sre"}],
    }
    airgap.write_text(airgap.read_text() + "---\n" + yaml.safe_dump(binding))
    files = sorted(p for p in content.rglob("*") if p.is_file() and p.name != bundle.CHECKSUMS)
    sums = "".join(f"{bundle.sha256_file(p)}  {p.relative_to(content).as_posix()}\n" for p in files)
    (content / bundle.CHECKSUMS).write_text(sums)
    bundle._write_archive(content, output)
    return output


@pytest.mark.kubectl
def test_a_forged_bundle_is_refused_without_a_trust_anchor(
    created: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its own checksums agree, so only an anchor held outside the bundle can tell."""
    forged = _forge(created[0], tmp_path / "forged" / "smart-sre.tar.gz")
    assert smart_sre_bundle("verify", str(forged)) == 1
    assert smart_sre_bundle("install", str(forged), "--models-dir", str(tmp_path / "pvc"), "--dry-run") == 1
    captured = capsys.readouterr()
    assert "ok" not in captured.out
    assert captured.err.count("without a trust anchor") == 2
    assert "--sha256 DIGEST" in captured.err
    assert "--public-key KEY.pem" in captured.err
    assert not (tmp_path / "pvc").exists()


@pytest.mark.kubectl
def test_a_forged_bundle_fails_the_published_sha256_and_the_signature(
    created: tuple[Path, str], keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, published = created
    forged = _forge(archive, tmp_path / "forged" / "smart-sre.tar.gz")
    genuine_signature = archive.with_name(archive.name + ".sig")
    assert smart_sre_bundle("verify", str(forged), "--sha256", published) == 1
    assert "is not the published" in capsys.readouterr().err
    argv = ("verify", str(forged), "--public-key", str(keys.public), "--signature", str(genuine_signature))
    assert smart_sre_bundle(*argv) == 1
    assert "does not verify" in capsys.readouterr().err


@pytest.mark.kubectl
def test_a_signed_bundle_verifies_with_the_signers_public_key(
    created: tuple[Path, str], keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, _ = created
    assert smart_sre_bundle("verify", str(archive), "--public-key", str(keys.public)) == 0
    assert f"signed by the key {keys.public}; every checksum matches" in capsys.readouterr().out


@pytest.mark.kubectl
def test_a_signature_by_another_key_or_garbage_is_refused(
    created: tuple[Path, str], keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, _ = created
    other = _keygen(tmp_path / "other")
    assert smart_sre_bundle("sign", str(archive), "--private-key", str(other.private)) == 0
    assert smart_sre_bundle("verify", str(archive), "--public-key", str(keys.public)) == 1
    assert "does not verify" in capsys.readouterr().err
    archive.with_name(archive.name + ".sig").write_text("not base64 at all!\n")
    assert smart_sre_bundle("verify", str(archive), "--public-key", str(keys.public)) == 1
    assert "no readable signature" in capsys.readouterr().err
    assert smart_sre_bundle("verify", str(archive), "--public-key", str(keys.private)) == 1
    assert "not an unencrypted PEM public key" in capsys.readouterr().err


def test_keygen_never_overwrites_and_keeps_the_private_key_private(
    keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keys.private.stat().st_mode & 0o777 == 0o600
    before = keys.private.read_bytes()
    assert (
        smart_sre_bundle("keygen", "--private-key", str(keys.private), "--public-key", str(keys.public)) == 1
    )
    assert "never overwrites a key" in capsys.readouterr().err
    assert keys.private.read_bytes() == before


def test_a_malformed_sha256_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(b"x")
    assert smart_sre_bundle("verify", str(archive), "--sha256", "3f1c") == 1
    assert "--sha256 '3f1c' is not a sha256" in capsys.readouterr().err


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
    published = _published(capsys.readouterr().out)
    assert smart_sre_bundle("verify", str(archive), "--sha256", published) == 0
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
    with bundle.opened(archive, bundle.TrustAnchor(sha256=published)) as (content, _, _):
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
