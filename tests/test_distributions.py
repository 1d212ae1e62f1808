"""The product ships without its test bench: what `pip install smart-sre`, the images and the bundle carry.

The sandbox, the demo, the eval and the pytest fixture are another distribution (sandbox/pyproject.toml);
these tests build the product's wheel as a user's installer would and read what is inside.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS_ONLY = ("cel-python", "pytest", "smart-sre-sandbox")


@pytest.fixture(scope="module")
def product_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel built from a clean copy of what the product's pyproject.toml names (no stale build/)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("operator", "inference", "grammars"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            ".",
        ],
        check=True,
        capture_output=True,
        cwd=source,
    )
    (wheel,) = out.glob("smart_sre-*.whl")
    return zipfile.ZipFile(wheel)


@pytest.mark.slow
def test_the_product_wheel_carries_no_sandbox_harness_or_test_code(product_wheel: zipfile.ZipFile) -> None:
    names = product_wheel.namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("smart_sre-")}
    assert packages == {"smart_sre", "smart_sre_inference", "smart_sre_grammars"}
    assert not [
        name for name in names if re.search(r"(^|/)(eval|demo|processes|testing|conftest)(/|\.py$)", name)
    ]
    sources = "\n".join(product_wheel.read(name).decode() for name in names if name.endswith(".py"))
    assert "import pytest" not in sources
    assert "smart_sre_sandbox" not in sources
    assert "smart_sre_harness" not in sources
    # The prompts travel with the investigation that reads them.
    assert "smart_sre/investigation/prompts/step.md" in names


@pytest.mark.slow
def test_the_product_wheel_requires_nothing_only_the_harness_needs(product_wheel: zipfile.ZipFile) -> None:
    (metadata,) = [name for name in product_wheel.namelist() if name.endswith(".dist-info/METADATA")]
    required = [
        line.split(":", 1)[1].strip()
        for line in product_wheel.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    names = {re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower() for requirement in required}
    assert not names & set(HARNESS_ONLY)


def test_no_image_recipe_copies_the_sandbox() -> None:
    for dockerfile in (ROOT / "deploy" / "images").glob("Dockerfile.*"):
        assert not re.search(r"^COPY\s+sandbox\b", dockerfile.read_text(), re.M), dockerfile.name


def test_the_sandbox_distribution_adds_its_commands_as_plugins() -> None:
    project = tomllib.loads((ROOT / "sandbox" / "pyproject.toml").read_text())["project"]
    assert "smart-sre" in project["dependencies"]
    assert set(project["entry-points"]["smart_sre.commands"]) == {"sandbox", "demo", "eval"}


def test_import_rules_hold() -> None:
    """The layer and distribution contracts of pyproject.toml ([tool.importlinter])."""
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
