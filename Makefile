# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
AGENTS := tests/agents
# npm ci writes this file last: it marks a finished install.
AGENTS_DONE := $(AGENTS)/node_modules/.package-lock.json

.PHONY: install install-dev serve test lint check clean bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e .
	$(BIN)/python -m compileall -q lockgate   # bytecode, as a regular pip install writes it
	touch $@

$(DEV): pyproject.toml constraints.txt $(RUNTIME)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(RUNTIME)
## The real agent clients the end-to-end tests run (Codex CLI), pinned by package-lock.json.
## Without npm their tests skip and say why.
$(AGENTS_DONE): $(AGENTS)/package.json $(AGENTS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd $(AGENTS) && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the tests that run real agent clients (Codex) will be skipped"; fi

install-dev: $(DEV) $(AGENTS_DONE)

## Start lockgate on 127.0.0.1:8080 with SQLite (providers from OPENAI_API_KEY etc. or lockgate.toml).
serve: $(RUNTIME)
	$(BIN)/lockgate serve

## Install everything and run the whole test suite.
test: $(DEV) $(AGENTS_DONE)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

## ruff and mypy (strict) over the package.
lint: $(DEV)
	$(BIN)/ruff check lockgate tests bench
	$(BIN)/mypy

check: lint test

## Full benchmark against direct, a reference proxy, LiteLLM and Portkey (~15 min); updates docs/benchmarks.md.
bench: $(DEV)
	$(BIN)/python -m compileall -q lockgate
	$(BIN)/python -m bench.run

## Under 2 minutes: direct, reference proxy and lockgate only (CI runs this as a smoke test).
bench-quick: $(DEV)
	$(BIN)/python -m compileall -q lockgate
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) build *.egg-info $(AGENTS)/node_modules
