"""The package keeps the product's shape and never shadows the standard library."""

import operator
import subprocess
import sys
from pathlib import Path

import smart_sre
from smart_sre.commands.main import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_operator_folder_is_not_the_stdlib_operator() -> None:
    assert Path(smart_sre.__file__).parent == ROOT / "operator"
    assert hasattr(operator, "itemgetter")


def test_stdlib_operator_wins_even_from_the_repo_root() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import operator; print(operator.itemgetter.__module__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "operator"


def test_cli_lists_every_component() -> None:
    help_text = build_parser().format_help()
    for command in ("sandbox", "inference", "models"):
        assert command in help_text
