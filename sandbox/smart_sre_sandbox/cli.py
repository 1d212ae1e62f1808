"""`smart-sre sandbox up|scenarios`: run the sandbox cluster for kubectl, or list the built-in scenarios."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from importlib import resources
from pathlib import Path

from .cluster import Sandbox, read_documents, scenario_nodes
from .errors import ApiError

logger = logging.getLogger(__name__)


def scenarios_dir() -> Path:
    return Path(str(resources.files("smart_sre_sandbox") / "scenarios"))


def builtin_scenarios() -> dict[str, Path]:
    return {path.stem: path for path in sorted(scenarios_dir().glob("*.yaml"))}


def resolve_scenario(name_or_file: str) -> Path:
    """A built-in scenario by name, or a YAML file by path."""
    builtin = builtin_scenarios()
    if name_or_file in builtin:
        return builtin[name_or_file]
    path = Path(name_or_file)
    if path.is_file():
        return path
    raise SystemExit(
        f"unknown scenario {name_or_file!r}: give a file path or one of {', '.join(builtin) or '(none)'}"
        " (list them with `smart-sre sandbox scenarios`)"
    )


def default_crds_dir() -> Path | None:
    for candidate in (Path.cwd() / "crds", Path(__file__).resolve().parents[2] / "crds"):
        if candidate.is_dir():
            return candidate
    return None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sandbox", help="a local Kubernetes API server with a simulated cluster")
    commands = parser.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="run the sandbox until Ctrl-C and write a kubeconfig for kubectl")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    up.add_argument(
        "--port", type=int, default=6443, help="port to listen on (default 6443; 0 picks a free one)"
    )
    up.add_argument(
        "--kubeconfig",
        type=Path,
        default=Path("sandbox.kubeconfig"),
        help="where to write the kubeconfig (default ./sandbox.kubeconfig)",
    )
    up.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME_OR_FILE",
        help="apply a built-in scenario or a YAML file at start (repeatable)",
    )
    up.add_argument(
        "--time-scale",
        type=_positive,
        default=1.0,
        help="how many times faster than real time simulated time runs (default 1)",
    )
    up.add_argument(
        "--crds",
        type=Path,
        default=default_crds_dir(),
        metavar="DIR",
        help="apply every CRD YAML in DIR at start (default: the repository's crds/ when present)",
    )
    up.set_defaults(func=run_up)
    listing = commands.add_parser("scenarios", help="list the built-in scenarios")
    listing.set_defaults(func=run_scenarios)


def run_scenarios(args: argparse.Namespace) -> int:
    for name, path in builtin_scenarios().items():
        about = next((d for d in read_documents(path) if d["kind"] == "Scenario"), {})
        print(f"{name:24} {(about.get('spec') or {}).get('description', '')}")
    return 0


def run_up(args: argparse.Namespace) -> int:
    scenarios = [resolve_scenario(s) for s in args.scenario]
    if args.crds is not None and not args.crds.is_dir():
        raise SystemExit(f"--crds {args.crds}: not a directory")
    try:
        nodes = scenario_nodes(scenarios) or None
    except ValueError as error:
        raise SystemExit(str(error)) from error
    sandbox = Sandbox(
        host=args.host, port=args.port, time_scale=args.time_scale, nodes=nodes, crds_dir=args.crds
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sandbox, scenarios, args.kubeconfig))
    return 0


async def _serve(sandbox: Sandbox, scenarios: list[Path], kubeconfig: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await sandbox.start()
    except OSError as error:
        raise SystemExit(
            f"cannot listen on {sandbox.host}:{sandbox.port}: {error.strerror}; try --port 0"
        ) from error
    try:
        for path in scenarios:
            try:
                applied = await sandbox.apply_file(path)
            except (ValueError, ApiError) as error:
                raise SystemExit(f"scenario {path}: {error}") from error
            logger.info("scenario applied", extra={"scenario": str(path), "objects": len(applied)})
        path = sandbox.write_kubeconfig(kubeconfig)
        print(
            f"sandbox cluster listening on {sandbox.url} ({len(sandbox.nodes)} nodes, time scale {sandbox.clock.time_scale:g})"
        )
        for variable, value in sandbox.kubectl_env(path).items():
            print(f"  export {variable}={value}")
        print("  kubectl get nodes")
        print("  kubectl get pods -A --watch")
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
    finally:
        print("stopping sandbox", flush=True)
        await sandbox.stop()
