# make run  — set up and serve the API on the embedded defaults (SQLite under instance/)
# make test — set up, lint, and run the whole suite on SQLite and on a throwaway PostgreSQL
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: install contracts run test test-sqlite test-postgres lint bench demo worker clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# solc-js for contracts/build.js, which the artifact test runs (--check).
CONTRACTS_STAMP := contracts/node_modules/.installed

$(CONTRACTS_STAMP): contracts/package-lock.json
	npm ci --prefix contracts
	touch $(CONTRACTS_STAMP)

contracts: $(CONTRACTS_STAMP)

run: install
	$(BIN)/market db upgrade
	$(BIN)/market serve --host $(HOST) --port $(PORT)

demo: install
	$(BIN)/market db upgrade
	$(BIN)/market demo

worker: install
	$(BIN)/market worker

lint: install
	$(BIN)/ruff check market tests bench migrations wsgi.py
	$(BIN)/mypy
	$(BIN)/lint-imports

# One pytest-xdist worker per core (at most 4), each with a database of its own; one hash
# seed for all, so every worker collects the same test ids.
PYTEST := env PYTHONHASHSEED=0 $(BIN)/python -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4

test-sqlite: install contracts
	env -u MARKET_TEST_DATABASE_URL $(PYTEST)

test-postgres: install contracts
	scripts/with-postgres $(PYTEST)

test: lint test-sqlite test-postgres

bench: install
	@for b in bench/*.py; do [ -e "$$b" ] && $(BIN)/python "$$b" || true; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
