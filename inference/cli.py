"""`smart-sre inference serve` and `smart-sre models list|add|pull|verify|bundle|install`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from smart_sre_inference import lock as lockfile

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_inference(subparsers)
    _register_models(subparsers)


def _lock_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock", help="models.lock path (default: $SMART_SRE_MODELS_LOCK or ./models.lock)")
    parser.add_argument(
        "--models-dir", help="weights directory (default: $SMART_SRE_MODELS_DIR or ~/.cache/smart-sre/models)"
    )


def _selection_options(parser: argparse.ArgumentParser, *, every: bool = True) -> None:
    """The lock entries a command acts on, as `_selected` reads them back."""
    parser.add_argument("names", nargs="*", metavar="NAME")
    if every:
        parser.add_argument("--all", action="store_true", help="every entry of the lock")


def _register_inference(subparsers: argparse._SubParsersAction) -> None:
    inference = subparsers.add_parser("inference", help="the local LLM sidecar")
    commands = inference.add_subparsers(dest="inference_command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve grammar-constrained generation over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8081)
    serve.add_argument("--model", help="a models.lock name (default: $SMART_SRE_MODEL or the lock's default)")
    _lock_options(serve)
    serve.add_argument("--n-gpu-layers", help="'auto' (all layers when built with GPU support) or a number")
    serve.add_argument("--threads", type=int, help="CPU threads (default: all available)")
    serve.add_argument("--ctx", type=int, help="context size in tokens (default 4096)")
    serve.add_argument(
        "--queue-size", type=int, help="requests that may wait behind the running one (default 8)"
    )
    serve.add_argument("--timeout", type=float, help="default per-request timeout in seconds (default 120)")
    _endpoint_options(serve)
    serve.set_defaults(func=_serve)


def _endpoint_options(parser: argparse.ArgumentParser) -> None:
    """Bring your own endpoint: these (or SMART_SRE_ENDPOINT_*) replace the local model."""
    from smart_sre_inference.settings import Dialect, Ranking

    group = parser.add_argument_group("endpoint", "serve from an OpenAI-compatible server instead")
    group.add_argument("--endpoint", metavar="URL", help="its root or /v1 URL ($SMART_SRE_ENDPOINT_URL)")
    group.add_argument("--endpoint-model", help="its model name (default: the only one it lists)")
    group.add_argument("--endpoint-dialect", choices=[d.value for d in Dialect], help="default auto")
    group.add_argument("--endpoint-ranking", choices=[r.value for r in Ranking], help="default auto")
    group.add_argument(
        "--endpoint-api-key-file", type=Path, help="its API key's file (or $SMART_SRE_ENDPOINT_API_KEY)"
    )
    group.add_argument(
        "--endpoint-chat-template", type=Path, help="the served model's Jinja chat template, for ranking"
    )


def _serve(args: argparse.Namespace) -> int:
    from smart_sre_inference import store
    from smart_sre_inference.remote import EndpointMismatch, RemoteModels
    from smart_sre_inference.resolver import ModelResolver
    from smart_sre_inference.server import Sidecar, serve
    from smart_sre_inference.settings import EndpointSettings, EngineSettings, ServerSettings

    server = ServerSettings.from_env(
        host=args.host, port=args.port, queue_size=args.queue_size, request_timeout_s=args.timeout
    )
    endpoint = EndpointSettings.from_env(
        url=args.endpoint,
        model=args.endpoint_model,
        dialect=args.endpoint_dialect,
        ranking=args.endpoint_ranking,
        api_key_file=args.endpoint_api_key_file,
        chat_template_file=args.endpoint_chat_template,
    )
    if endpoint.url:
        sidecar = Sidecar.over(RemoteModels(endpoint), server)
    else:
        sidecar = Sidecar(
            ModelResolver(lockfile.lock_path(args.lock), lockfile.models_dir(args.models_dir), args.model),
            EngineSettings.from_env(n_gpu_layers=args.n_gpu_layers, n_threads=args.threads, n_ctx=args.ctx),
            server,
        )
    try:
        asyncio.run(serve(sidecar))
    except KeyboardInterrupt:
        return 0
    except (store.WeightsError, FileNotFoundError, EndpointMismatch) as error:
        return _fail(f"refusing to serve: {error}")
    except KeyError as error:
        return _fail(str(error.args[0]))
    return 0


def _register_models(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="pinned model weights (models.lock)")
    commands = models.add_subparsers(dest="models_command", required=True, metavar="COMMAND")

    listing = commands.add_parser(
        "list", help="the entries of models.lock and whether their weights are verified"
    )
    _lock_options(listing)
    listing.set_defaults(func=_list)

    add = commands.add_parser("add", help="pin a Hugging Face GGUF file (connected side)")
    add.add_argument("repo", help="Hugging Face repository, e.g. unsloth/gemma-3-270m-it-GGUF")
    add.add_argument("file", help="file in the repository")
    add.add_argument("--name", required=True, help="the name the model is chosen by")
    add.add_argument("--revision", default="main", help="branch, tag or commit; the lock records the commit")
    add.add_argument("--quantization", required=True, help="e.g. Q4_K_M")
    add.add_argument("--context-length", type=int, required=True)
    add.add_argument("--licence", help="default: the model card's licence")
    template = add.add_mutually_exclusive_group(required=True)
    template.add_argument(
        "--chat-template-from", metavar="NAME", help="copy the chat template of a lock entry"
    )
    template.add_argument("--chat-template-file", type=Path, help="a Jinja chat template over `messages`")
    add.add_argument("--default", action="store_true", help="make it the default model")
    _lock_options(add)
    add.set_defaults(func=_add)

    pull = commands.add_parser(
        "pull", help="fetch and verify weights (the default model when no name is given)"
    )
    _selection_options(pull)
    _lock_options(pull)
    pull.set_defaults(func=_pull)

    verify = commands.add_parser("verify", help="hash weights against their sha256, offline")
    _selection_options(verify)
    _lock_options(verify)
    verify.set_defaults(func=_verify)

    bundle = commands.add_parser(
        "bundle", help="one archive with weights and lock entries, for air-gapped hosts"
    )
    _selection_options(bundle, every=False)
    bundle.add_argument("--output", "-o", type=Path, required=True, help="archive path (.tar)")
    _lock_options(bundle)
    bundle.set_defaults(func=_bundle)

    install = commands.add_parser(
        "install", help="verify a bundle's weights and add them to models.lock; never replaces a pinned entry"
    )
    install.add_argument("archive", type=Path)
    _lock_options(install)
    install.set_defaults(func=_install)


def _selected(args: argparse.Namespace) -> list[lockfile.ModelEntry]:
    lock = lockfile.load(lockfile.lock_path(args.lock))
    if getattr(args, "all", False):
        return list(lock.models)
    return [lock.get(name) for name in args.names or [None]]


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _list(args: argparse.Namespace) -> int:
    from smart_sre_inference import store

    lock = lockfile.load(lockfile.lock_path(args.lock))
    directory = lockfile.models_dir(args.models_dir)
    for entry in lock.models:
        state = "verified" if store.is_verified(entry, directory) else "missing or unverified"
        pin = "" if entry.verified else "  (pin not verified here)"
        marker = "*" if entry.name == lock.default else " "
        print(
            f"{marker} {entry.name}  {entry.quantization}  {entry.size} bytes  {entry.source.kind}  {state}{pin}"
        )
    return 0


def _add(args: argparse.Namespace) -> int:
    from smart_sre_inference import sources

    path = lockfile.lock_path(args.lock)
    lock = lockfile.load(path)
    template = (
        lock.get(args.chat_template_from).chat_template
        if args.chat_template_from
        else args.chat_template_file.read_text(encoding="utf-8")
    )
    try:
        entry = sources.describe(
            args.repo,
            args.file,
            revision=args.revision,
            name=args.name,
            quantization=args.quantization,
            context_length=args.context_length,
            chat_template=template,
            licence=args.licence,
        )
    except (sources.OfflineError, FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    lock.upsert(entry)
    if args.default:
        lock.default = entry.name
    lockfile.save(lock, path)
    print(
        f"added {entry.name}: {entry.source.repo}@{entry.source.revision} {entry.file} sha256 {entry.sha256}"
    )
    return 0


def _pull(args: argparse.Namespace) -> int:
    from smart_sre_inference import sources, store

    directory = lockfile.models_dir(args.models_dir)
    try:
        for entry in _selected(args):
            path = sources.pull(entry, directory)
            print(f"{entry.name}: {path} verified (sha256 {entry.sha256})")
            if not entry.verified:
                _record_verified(entry, lockfile.lock_path(args.lock))
    except (KeyError, sources.OfflineError, store.WeightsError, RuntimeError) as error:
        return _fail(str(error.args[0]) if isinstance(error, KeyError) else str(error))
    return 0


def _record_verified(entry: lockfile.ModelEntry, path: Path) -> None:
    """`pull` confirmed an unverified pin against its source and the bytes: say so in models.lock."""
    lock = lockfile.load(path)
    confirmed = entry.model_copy(update={"verified": True})
    lock.models = [confirmed if pinned.name == entry.name else pinned for pinned in lock.models]
    try:
        lockfile.save(lock, path)
    except OSError as error:
        print(f"note: {entry.name} is confirmed, but {path} could not record verified = true ({error})")
        return
    print(f"{entry.name}: the source confirmed the pin; {path} now says verified = true")


def _verify(args: argparse.Namespace) -> int:
    from smart_sre_inference import store

    directory = lockfile.models_dir(args.models_dir)
    failed = 0
    for entry in _selected(args):
        try:
            path = store.verify(entry, directory)
        except store.WeightsError as error:
            print(f"FAIL {error}", file=sys.stderr)
            failed += 1
        else:
            print(f"ok   {entry.name}: {path}")
    return 1 if failed else 0


def _bundle(args: argparse.Namespace) -> int:
    from smart_sre_inference import bundle, store

    try:
        archive = bundle.create(_selected(args), lockfile.models_dir(args.models_dir), args.output)
    except store.WeightsError as error:
        return _fail(str(error))
    print(f"wrote {archive}")
    return 0


def _install(args: argparse.Namespace) -> int:
    from smart_sre_inference import bundle, store

    try:
        entries = bundle.install(
            args.archive, lockfile.models_dir(args.models_dir), lockfile.lock_path(args.lock)
        )
    except store.WeightsError as error:
        return _fail(f"bundle refused: {error}")
    for entry in entries:
        print(f"installed {entry.name} (sha256 {entry.sha256})")
    return 0
