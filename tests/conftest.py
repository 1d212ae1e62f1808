"""Shared test set-up: the sandbox cluster fixture, and no network for model code."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest_plugins = ["smart_sre_sandbox.testing"]
