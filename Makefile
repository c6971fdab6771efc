# One command sets up and runs the demo (`make demo`); one sets up and runs the tests (`make test`).
# Setup is idempotent: the virtualenv is rebuilt only when pyproject.toml changes.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.crowdclean-installed

.PHONY: setup demo test test-all lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch, pinned: an unpinned torch pulls a CUDA build of several GB.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,browser,bench]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	OMP_NUM_THREADS=2 $(BIN)/crowdclean demo

test: setup
	./scripts/ensure-chromium.sh
	OMP_NUM_THREADS=1 $(BIN)/pytest -q

test-all: setup
	./scripts/ensure-chromium.sh
	OMP_NUM_THREADS=1 $(BIN)/pytest -q -m ''

lint: setup
	$(BIN)/ruff check orchestrator aggregation crowdclean tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) crowdclean-demo .pytest_cache .mypy_cache .ruff_cache
