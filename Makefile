# The Quickstart's two commands are `make run` and `make test`; the rest are for developers and CI.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint format typecheck migrations-check ci bench clean

run: install ## Start the platform (embedded PostgreSQL + demo data when DATABASE_URL is unset)
	$(BIN)/artisan serve

test: install ## Run the whole test suite against the local PostgreSQL and Redis
	./scripts/ensure-services.sh
	$(BIN)/pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: install ## ruff (lint + format check)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy

migrations-check: install ## Models match migrations; upgrade -> downgrade base -> upgrade works
	./scripts/ensure-services.sh
	./scripts/check-migrations.sh

ci: lint typecheck migrations-check test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
