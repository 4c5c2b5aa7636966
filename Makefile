# Two commands do all the set-up: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest services browser bench chaos openapi clean

install: $(STAMP)

# Reinstall only when the dependency list changes, so repeated `make test` stays quick.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/ltb demo

# Postgres and Redis are the machine's own; start them if they are installed but stopped.
services:
	@deploy/dev-services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

typecheck: install
	$(BIN)/mypy

# The console's browser tests drive Debian's chromium. Installed with apt-get when this
# user may (root, or password-less sudo); otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  fi; } >/dev/null || true
	@command -v chromium >/dev/null 2>&1 || echo "chromium is not installed and could not be installed here: the console's browser tests (tests/console) will be skipped"

pytest: install services browser
	$(BIN)/pytest $(PYTEST_ARGS)

test: install services lint typecheck pytest

# The published API contract; a test fails when the app's document differs from it.
openapi: install
	$(BIN)/python -m api.openapi_doc

# Every suite, chaos included; each writes its figures into bench-results.json.
bench: install services
	$(BIN)/python -m benchmarks

# Kills workers and restarts Redis, Postgres and S3 under load: private servers of its own.
chaos: install
	$(BIN)/python -m benchmarks chaos

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .ltb demo-out
