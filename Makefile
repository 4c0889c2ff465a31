# make run  — set up and serve the exchange on the embedded defaults (SQLite under instance/):
#              gunicorn and the worker, stopped together by Ctrl-C
# make test — set up, lint, and run the whole suite on SQLite and on a throwaway PostgreSQL
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: install browser-deps contracts run test test-sqlite test-postgres lint bench demo worker clean crash model fuzz

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e clients/python
	touch $(STAMP)

install: $(STAMP)

# solc-js for contracts/build.js, which the artifact test runs (--check).
CONTRACTS_STAMP := contracts/node_modules/.installed

$(CONTRACTS_STAMP): contracts/package-lock.json
	npm ci --prefix contracts
	touch $(CONTRACTS_STAMP)

contracts: $(CONTRACTS_STAMP)

# Chromium, ChromeDriver and a Chinese font for the console's browser tests (Debian packages).
browser-deps:
	scripts/browser-deps

run: install
	$(BIN)/market db upgrade
	$(BIN)/market run --host $(HOST) --port $(PORT)

demo: install
	$(BIN)/market db upgrade
	$(BIN)/market demo

worker: install
	$(BIN)/market worker

lint: install
	$(BIN)/ruff check market tests bench migrations scripts clients wsgi.py
	$(BIN)/mypy
	$(BIN)/mypy --strict clients/python/market_client
	$(BIN)/lint-imports

# One pytest-xdist worker per core (at most 4), each with a database of its own; one hash
# seed for all, so every worker collects the same test ids.
PYTEST := env PYTHONHASHSEED=0 $(BIN)/python -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4

test-sqlite: install contracts browser-deps
	env -u MARKET_TEST_DATABASE_URL $(PYTEST)

test-postgres: install contracts browser-deps
	scripts/with-postgres $(PYTEST)

test: lint test-sqlite test-postgres

bench: install
	@for b in bench/*.py; do [ -e "$$b" ] && $(BIN)/python "$$b" || true; done

# make crash — SIGKILL gunicorn and the worker at random moments under load on a throwaway
# PostgreSQL (loopback only), then check nothing acknowledged was lost or doubled and nothing
# unacknowledged half-written; prints a JSON summary, exits 1 on any violation.
CRASH_ARGS ?= --kills 20 --duration 240 --clients 4
crash: install
	scripts/with-postgres $(BIN)/python scripts/crash.py $(CRASH_ARGS)

# make model — a long run of the stateful models (services, then HTTP) on SQLite: by default
# 850 runs of 60 steps each per variant, 102,000 steps in all; MODEL_ENV changes the seed and size
# (MARKET_MODEL_SEED, MARKET_MODEL_EXAMPLES, MARKET_MODEL_STEPS), e.g. on PostgreSQL:
# make model MODEL_RUN=scripts/with-postgres
MODEL_ENV ?= MARKET_MODEL_SEED=$${MARKET_MODEL_SEED:-20261121} MARKET_MODEL_EXAMPLES=850 MARKET_MODEL_STEPS=60
MODEL_RUN ?= env -u MARKET_TEST_DATABASE_URL
model: install
	$(MODEL_RUN) sh -c 'env PYTHONHASHSEED=0 $(MODEL_ENV) $(BIN)/python -m pytest -q -s \
		-p no:cacheprovider tests/integration/test_stateful_model.py tests/api/test_stateful_api.py'

# make fuzz — the long fuzz run on SQLite: every operation as every role (anonymous and the six
# organisation roles) at 10 generated examples each, then 100 stateful scenarios of up to 20
# steps along the document's links; over 10,000 requests, none may answer 5xx, stray from the
# document or send an error that is not problem+json. Writes and prints what was sent
# (FUZZ_REPORT); FUZZ_ENV changes the size or seed (MARKET_FUZZ_SEED), MARKET_FUZZ_COVERAGE=1
# adds schemathesis' boundary cases. On PostgreSQL: make fuzz FUZZ_RUN=scripts/with-postgres
FUZZ_REPORT ?= /tmp/market-fuzz-report.json
FUZZ_ENV ?= MARKET_FUZZ_EXAMPLES=10 MARKET_FUZZ_STATEFUL_EXAMPLES=100 MARKET_FUZZ_STATEFUL_STEPS=20
FUZZ_RUN ?= env -u MARKET_TEST_DATABASE_URL
fuzz: install
	rm -f $(FUZZ_REPORT)
	$(FUZZ_RUN) sh -c 'env PYTHONHASHSEED=0 MARKET_FUZZ_REPORT=$(FUZZ_REPORT) $(FUZZ_ENV) \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/api/test_fuzz_openapi.py \
		tests/api/test_fuzz_links.py'; status=$$?; cat $(FUZZ_REPORT); exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
