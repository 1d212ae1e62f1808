"""The `smart-sre` command: one entry point, one subcommand per component.

Each component registers its own subcommands, so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import logfmt

# (module, description): each module exposes `register(subparsers)`; imported lazily so that
# `smart-sre sandbox up` does not pay for loading llama.cpp.
COMPONENTS: tuple[str, ...] = (
    "smart_sre_sandbox.cli",
    "smart_sre_inference.cli",
    "smart_sre.diagnose",
    "smart_sre.run",
    "smart_sre.bundle",
    "smart_sre.demo",
    "smart_sre.eval.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smart-sre", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMPONENTS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logfmt.configure(args.log_level)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
