"""Weights on disk, verified against their pinned sha256.

Called by the engine before llama.cpp maps a file (every sidecar start and reload), by `models
pull|verify|list|bundle|install` and by `bundle install`. Every call hashes the whole file: a record
of size, mtime and inode can be forged by anyone who can write the file (an in-place edit with the
mtime put back), and hashing costs roughly a second per GB of weights (docs/inference.md).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from smart_sre_inference.lock import ModelEntry

logger = logging.getLogger(__name__)


class WeightsError(RuntimeError):
    """The weights on disk are missing or are not the pinned ones."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(entry: ModelEntry, directory: Path) -> Path:
    """The path of the entry's file once its sha256 matches the lock; raises WeightsError otherwise."""
    path = directory / entry.file
    if not path.is_file():
        raise WeightsError(
            f"model {entry.name!r}: weights file {path} is missing; run `smart-sre models pull {entry.name}` "
            "(or `smart-sre models install BUNDLE` on an air-gapped host)"
        )
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise WeightsError(
            f"model {entry.name!r}: sha256 mismatch for {path}: expected {entry.sha256}, actual {actual}; "
            "the file is not the pinned one: delete it and pull or install it again"
        )
    logger.info("weights verified", extra={"model": entry.name, "path": str(path)})
    if not entry.verified:
        # The bytes are the pinned ones; the pin itself came from public listings (lock.ModelEntry.verified).
        logger.warning(
            "models.lock marks this pin as not verified here; `smart-sre models pull` confirms it",
            extra={"model": entry.name, "sha256": entry.sha256},
        )
    return path


def is_verified(entry: ModelEntry, directory: Path) -> bool:
    try:
        verify(entry, directory)
    except WeightsError:
        return False
    return True
