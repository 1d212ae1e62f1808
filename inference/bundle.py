"""Carrying models into an air-gapped cluster: one tar with the weights and their lock entries.

The archive is verified again on the receiving side; nothing in it is trusted until its sha256
matches the lock entry that travelled with it.
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from smart_sre_inference import lock as lockfile
from smart_sre_inference import store
from smart_sre_inference.lock import ModelEntry, ModelsLock

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


def install(archive: Path, directory: Path, lock_path: Path) -> list[ModelEntry]:
    """Unpack verified weights into `directory` and merge their entries into `lock_path`."""
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r") as tar, tempfile.TemporaryDirectory(dir=directory) as tmp:
        staging = Path(tmp)
        tar.extract(BUNDLE_LOCK, staging, filter="data")
        carried = lockfile.load(staging / BUNDLE_LOCK)
        for entry in carried.models:
            tar.extract(f"weights/{entry.file}", staging, filter="data")
            store.verify(entry, staging / "weights", force=True)
        for entry in carried.models:
            (staging / "weights" / entry.file).replace(directory / entry.file)
            store.verify(entry, directory, force=True)
    target = lockfile.load(lock_path) if lock_path.exists() else ModelsLock(default=carried.default)
    for entry in carried.models:
        target.upsert(entry)
    lockfile.save(target, lock_path)
    return carried.models
