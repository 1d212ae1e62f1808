"""The `smart-sre` command: one entry point, one subcommand per component.

Each component registers its own subcommands, so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from smart_sre import __version__
from smart_sre.commands import logfmt

# Each module exposes `register(subparsers)`; imported lazily so that `smart-sre models list` does not
# pay for loading llama.cpp.
COMPONENTS: tuple[str, ...] = (
    "smart_sre_inference.cli",
    "smart_sre.commands.diagnose",
    "smart_sre.commands.run",
    "smart_sre.commands.bundle",
)
# Other distributions add subcommands here (the sandbox, the demo and the eval in `smart-sre-sandbox`),
# so the product never imports them and a production install simply lacks them.
PLUGIN_GROUP = "smart_sre.commands"


def _registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    found = [importlib.import_module(name).register for name in COMPONENTS]
    found += [entry.load() for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name)]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smart-sre", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logfmt.configure(args.log_level)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
