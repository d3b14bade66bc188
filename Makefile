# One entry point for users and CI. `make demo` and `make test` create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench clean

install: $(STAMP)

# torch first, pinned to the CPU build on this machine's disk, so the range in
# pyproject.toml is already satisfied and pip never pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0" || $(BIN)/python -m pip install -q "torch>=2.3"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

# The demo starts afresh each time (a finished run would refuse to be overwritten).
demo: install
	rm -rf runs/demo
	$(BIN)/vaegan train --config configs/demo.json --out runs/demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: install
	$(BIN)/python benchmarks/step.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
