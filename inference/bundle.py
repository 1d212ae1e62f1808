"""Carrying models into an air-gapped cluster: one tar with the weights and their lock entries.

`smart-sre models bundle|install`, the model image's init container and `smart-sre bundle install`
call it. The archive is hostile on the receiving side: nothing in it is trusted until its sha256
matches the lock entry that travelled with it, and no entry may change what the receiving
models.lock already pins (a forged bundle must not re-pin a model to its own weights).
"""

from __future__ import annotations

import tarfile
import tempfile
import tomllib
from pathlib import Path

from pydantic import ValidationError

from smart_sre_inference import lock as lockfile
from smart_sre_inference import store
from smart_sre_inference.lock import ModelEntry, ModelsLock
from smart_sre_inference.store import WeightsError

BUNDLE_LOCK = "models.lock"


def create(entries: list[ModelEntry], directory: Path, archive: Path) -> Path:
    """Write `archive` with each entry's verified weights and a lock holding just those entries."""
    paths = [store.verify(entry, directory) for entry in entries]
    with tempfile.TemporaryDirectory() as tmp:
        partial = Path(tmp) / BUNDLE_LOCK
        lockfile.save(ModelsLock(default=entries[0].name, models=entries), partial)
        with tarfile.open(archive, "w") as tar:
            tar.add(partial, arcname=BUNDLE_LOCK)
            for path in paths:
                tar.add(path, arcname=f"weights/{path.name}")
    return archive


def _extract(tar: tarfile.TarFile, name: str, staging: Path) -> None:
    member = tar.getmember(name)
    if not member.isfile():
        raise WeightsError(f"{name} in the bundle is not a regular file")
    tar.extract(member, staging, filter="data")


def _merged(carried: ModelsLock, lock_path: Path, archive: Path) -> ModelsLock | None:
    """`lock_path` with the carried entries added, None when it already pins them all; refuses changes."""
    target = lockfile.load(lock_path) if lock_path.exists() else ModelsLock(default=carried.default)
    added = False
    for entry in carried.models:
        if why := target.conflict(entry):
            raise WeightsError(
                f"{archive}: {why}. An install never replaces a pinned entry: pin the new weights "
                f"under a new name on the connected side (`smart-sre models add`), or remove the entry from "
                f"{lock_path} yourself if you mean to replace it"
            )
        if all(pinned.name != entry.name for pinned in target.models):  # else pinned alike (conflict)
            target.models.append(entry)
            added = True
    return target if added or not lock_path.exists() else None


def install(archive: Path, directory: Path, lock_path: Path) -> list[ModelEntry]:
    """Unpack verified weights into `directory` and add their entries to `lock_path`.

    Raises WeightsError, having changed nothing, on a malformed archive, on an entry that would
    change a pin of `lock_path`, or on a file that does not hash to its entry.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        staging = Path(tmp)
        try:
            with tarfile.open(archive, "r") as tar:
                _extract(tar, BUNDLE_LOCK, staging)
                carried = lockfile.load(staging / BUNDLE_LOCK)
                for entry in carried.models:
                    _extract(tar, f"weights/{entry.file}", staging)
        except (tarfile.TarError, KeyError, OSError, tomllib.TOMLDecodeError, ValidationError) as error:
            raise WeightsError(
                f"{archive} is not a models bundle ({error}); make one with `smart-sre models bundle`"
            ) from error
        merged = _merged(carried, lock_path, archive)
        for entry in carried.models:
            store.verify(entry, staging / "weights")
        if merged is not None:
            try:
                lockfile.save(merged, lock_path)
            except OSError as error:
                raise WeightsError(
                    f"cannot add {', '.join(e.name for e in carried.models)} to {lock_path} ({error}); "
                    "the lock in an image is read-only: pin the model in models.lock on the connected "
                    "side and rebuild the images"
                ) from error
        for entry in carried.models:
            (staging / "weights" / entry.file).replace(directory / entry.file)
    return carried.models
