"""Shared test set-up: the sandbox cluster fixture, no network for model code, and how pytest-xdist
(`make test`: `-n`, with `--dist loadgroup` from pyproject.toml) shares the suite out between workers."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Sandboxes started by tests (in process or not) check that no simulated controller changes a shared view.
os.environ.setdefault("SMART_SRE_SANDBOX_MUTATION_DETECTOR", "1")
# The Makefile materialises the models here (`smart-sre models pull`).
os.environ.setdefault("SMART_SRE_MODELS_DIR", str(Path(__file__).resolve().parents[1] / ".models"))
# Tests that load a model get Gemma 3 270M, not the lock's slower default: the sidecar and the
# in-process engine resolve $SMART_SRE_MODEL before models.lock's default (inference/resolver.py).
os.environ.setdefault("SMART_SRE_MODEL", "gemma-3-270m-q4_k_m")

pytest_plugins = ["smart_sre_harness.testing"]

# Tests that wait minutes of real time (sandboxes, operators, the model): their modules are started
# first, so that no worker is left running one alone at the end.
LONG_MARKERS = ("slow", "e2e", "model")


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    """Whether the test uses a module-scoped fixture of the suite's own (a model, a server, a wheel)."""
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info else ()
    return any(d.scope == "module" and d.baseid for defs in definitions for d in defs)


@pytest.hookimpl(tryfirst=True)  # before xdist turns xdist_group marks into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker only: a module whose tests share a module-scoped fixture runs on one worker,
    so the fixture starts once rather than once per worker; modules with long tests are handed out
    first, whole, so that tests keep the order of their module, as in a serial run."""
    if not hasattr(config, "workerinput"):
        return
    for item in items:
        if _shares_a_module_fixture(item) and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
    long = {item.path for item in items if any(item.get_closest_marker(name) for name in LONG_MARKERS)}
    items.sort(key=lambda item: item.path not in long)


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_keep_xdist_groups(items: list[pytest.Item]) -> None:
    """Since pytest 9.2 `nodeid` is derived from a structured id, so the `@group` suffix that xdist 3.8
    writes to the old `_nodeid` field is lost and loadgroup groups nothing (pytest-dev/pytest-xdist#1386,
    unfixed in 3.8): carry the suffix over. A no-op where xdist's own write takes effect."""
    for item in items:
        suffixed = item.__dict__.get("_nodeid")
        if suffixed and suffixed != item.nodeid:
            item._id = type(item._id).parse(suffixed)
