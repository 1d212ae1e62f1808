"""Which model to serve: chosen by name, never by code.

Precedence: an explicit name (reload request) > the file named by $SMART_SRE_MODEL_FILE (a mounted
ConfigMap, re-read on reload/SIGHUP) > --model > $SMART_SRE_MODEL > the lock's default.
models.lock itself is re-read on every resolve, so a new entry needs no restart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from smart_sre_inference import lock as lockfile
from smart_sre_inference.lock import ModelEntry

MODEL_ENV = "SMART_SRE_MODEL"
MODEL_FILE_ENV = "SMART_SRE_MODEL_FILE"


@dataclass(frozen=True)
class ModelResolver:
    lock_path: Path
    models_dir: Path
    flag: str | None = None

    def name(self, requested: str | None = None) -> str | None:
        if requested:
            return requested
        mounted = os.environ.get(MODEL_FILE_ENV)
        if mounted and Path(mounted).is_file():
            chosen = Path(mounted).read_text(encoding="utf-8").strip()
            if chosen:
                return chosen
        return self.flag or os.environ.get(MODEL_ENV) or None

    def resolve(self, requested: str | None = None) -> ModelEntry:
        return lockfile.load(self.lock_path).get(self.name(requested))
