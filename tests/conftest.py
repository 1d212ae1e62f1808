"""Shared test set-up: the sandbox cluster fixture, and no network for model code."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Sandboxes started by tests (in process or not) check that no simulated controller changes a shared view.
os.environ.setdefault("SMART_SRE_SANDBOX_MUTATION_DETECTOR", "1")
# The Makefile materialises the default model here (`smart-sre models pull`).
os.environ.setdefault("SMART_SRE_MODELS_DIR", str(Path(__file__).resolve().parents[1] / ".models"))

pytest_plugins = ["smart_sre_harness.testing"]
