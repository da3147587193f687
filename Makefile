# MailPanel Pro. `make run` starts the panel; `make test` runs lint, types and every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/mailpanel
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: run test lint types test-sqlite test-postgres system-deps lab-up lab-down bench-fleet bench-dns bench-onboard bench-assistant bench-privacy bench-notices bench-billing clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mailpanel serve

test: $(STAMP) system-deps lint types test-sqlite test-postgres

system-deps:
	bash scripts/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mailpanel manage makemigrations --check --dry-run

types: $(STAMP)
	$(BIN)/mypy

# Everything once on SQLite (the lab and browser tests run here only).
test-sqlite: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The database-touching tests again on PostgreSQL, with the Redis job queue.
test-postgres: $(STAMP)
	bash scripts/services.sh
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) \
		$(BIN)/pytest -m "not lab and not browser" -p no:cacheprovider $(PYTEST_ARGS)

lab-up: $(STAMP)
	$(BIN)/mailpanel lab up --hosts 3

lab-down: $(STAMP)
	$(BIN)/mailpanel lab down

# Benchmarks (root: they start the lab). Each writes bench/results/<name>.json and .png.
bench-fleet: $(STAMP)
	$(BIN)/python -m bench.fleet

bench-dns: $(STAMP)
	$(BIN)/python -m bench.dns

bench-onboard: $(STAMP)
	$(BIN)/python -m bench.onboard

bench-assistant: $(STAMP)
	$(BIN)/python -m bench.assistant

# No lab and no root: SQLite in a fresh data folder, nothing sent over the network.
bench-privacy: $(STAMP)
	$(BIN)/python -m bench.privacy

# No lab and no root: SQLite, the lab SMTP receiver and DNS server as processes on 127.0.0.1.
bench-notices: $(STAMP)
	$(BIN)/python -m bench.notices

# No lab container and no root: SQLite, the lab's processor (localstripe) and the panel's
# web server as processes on 127.0.0.1.
bench-billing: $(STAMP)
	$(BIN)/python -m bench.billing

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
