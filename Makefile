# The two set-up commands: `make demo` and `make test`. Both bootstrap .venv from a bare Python 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint typecheck pytest demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check pxrules tests bench
	$(BIN)/ruff format --check pxrules tests

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/pxrules demo

# Benchmarks print tables (and write bench/results.json); they are not part of `make test`.
bench: $(STAMP)
	$(BIN)/python bench/engine_rate.py 200000
	$(BIN)/python bench/ingest.py 50000 3
	$(BIN)/python bench/latency.py 5000 500

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
