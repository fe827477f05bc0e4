# The two set-up commands: `make demo` and `make test`. Both bootstrap .venv from a bare Python 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint typecheck pytest browser demo bench soak mutate clean lock

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' -c requirements.lock
	touch $(STAMP)

install: $(STAMP)

# Refresh requirements.lock (the exact versions make install uses) from pyproject.toml's ranges.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --upgrade --extra test --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml

lint: $(STAMP)
	$(BIN)/ruff check pxrules tests bench
	$(BIN)/ruff format --check pxrules tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# The status page is tested in a real headless Chromium: Debian's package, installed here when
# it is missing and we may (root, or passwordless sudo). Without it the browser tests are
# skipped loudly, except under CI, where they fail.
CHROMIUM ?= $(shell command -v chromium 2>/dev/null)
browser:
	@if [ -z "$(CHROMIUM)" ] && command -v apt-get >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; \
		else echo "make browser: no chromium, and no root to install it: the browser tests" \
			"will be skipped (sudo apt-get install chromium)"; exit 0; fi; \
		echo "make browser: installing Debian's chromium for the status page's tests"; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			$$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

test: lint typecheck browser pytest

demo: $(STAMP)
	$(BIN)/pxrules demo

# Benchmarks print tables (and write bench/results.json); they are not part of `make test`.
bench: $(STAMP)
	$(BIN)/python bench/run.py

# Load and soak (loopback only, bounded): a 60 s flood at 5,000 events/s, then a 10-minute soak.
soak: $(STAMP)
	$(BIN)/python bench/soak.py flood 60 5000
	$(BIN)/python bench/soak.py soak 600

# Mutation testing of the core (pyproject.toml [tool.mutmut]); minutes, not in `make test`.
# Prints killed / survived / score, then the surviving mutants (`mutmut show NAME` shows one).
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[mutate]'
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 > /dev/null 2>&1 || true
	$(BIN)/mutmut export-cicd-stats > /dev/null
	@$(BIN)/python -c "import json; s = json.load(open('mutants/mutmut-cicd-stats.json')); \
		done = s['killed'] + s['survived'] + s['no_tests'] + s['timeout']; \
		parts = [f'mutants {s[\"total\"]}: killed {s[\"killed\"]}', f'survived {s[\"survived\"]}', \
			f'no tests {s[\"no_tests\"]}', f'timeout {s[\"timeout\"]} (a loop: detected)']; \
		caught = s['killed'] + s['timeout']; \
		print(', '.join(parts) + f'; score {caught / max(done, 1):.1%}')"
	@$(BIN)/mutmut results 2>/dev/null | grep -E "survived|no tests" || true

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
