"""Weights on disk, verified against their pinned sha256.

Hashing 250 MB on every start is wasteful, so a verified file is remembered by (size, mtime, inode)
in `.verified.json` beside it; any change to those re-hashes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from pydantic import BaseModel

from smart_sre_inference.lock import ModelEntry

logger = logging.getLogger(__name__)
RECORD = ".verified.json"


class WeightsError(RuntimeError):
    """The weights on disk are missing or are not the pinned ones."""


class _Stamp(BaseModel):
    size: int
    mtime_ns: int
    inode: int
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path, sha256: str) -> _Stamp:
    st = path.stat()
    return _Stamp(size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino, sha256=sha256)


def _records(directory: Path) -> dict[str, _Stamp]:
    try:
        raw = json.loads((directory / RECORD).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {name: _Stamp.model_validate(stamp) for name, stamp in raw.items()}


def _remember(directory: Path, name: str, stamp: _Stamp) -> None:
    records = _records(directory)
    records[name] = stamp
    tmp = directory / f"{RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({key: value.model_dump() for key, value in records.items()}, indent=1))
    tmp.replace(directory / RECORD)


def verify(entry: ModelEntry, directory: Path, *, force: bool = False) -> Path:
    """The path of the entry's file once its sha256 matches the lock; raises WeightsError otherwise."""
    path = directory / entry.file
    if not path.is_file():
        raise WeightsError(
            f"model {entry.name!r}: weights file {path} is missing; run `smart-sre models pull {entry.name}` "
            "(or `smart-sre models install BUNDLE` on an air-gapped host)"
        )
    known = _records(directory).get(entry.file)
    if not force and known is not None and known == _stamp(path, entry.sha256):
        return path
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise WeightsError(
            f"model {entry.name!r}: sha256 mismatch for {path}: expected {entry.sha256}, actual {actual}; "
            "the file is not the pinned one: delete it and pull or install it again"
        )
    _remember(directory, entry.file, _stamp(path, actual))
    logger.info("weights verified", extra={"model": entry.name, "path": str(path)})
    return path


def is_verified(entry: ModelEntry, directory: Path) -> bool:
    try:
        verify(entry, directory)
    except WeightsError:
        return False
    return True
