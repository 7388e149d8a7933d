# One entry point for people and CI. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NACENTO_VAR_DIR ?= var

.PHONY: install demo dev drop tick doctor test lint bench bench-smoke bench-cache clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

## Run the pipeline end to end on the embedded default (local folder bucket, SQLite Magento database).
demo: install
	$(BIN)/nacento-pipeline demo

## Dagster UI + daemon on the embedded default (sensor, schedules, backfills): http://127.0.0.1:3000
dev: install
	NACENTO_VAR_DIR=$(NACENTO_VAR_DIR) exec $(BIN)/nacento-pipeline dev

## Drop another sample batch (changed image content, new labels, a disabled and a removed image).
drop: install
	$(BIN)/nacento-pipeline drop-sample

tick: install
	$(BIN)/nacento-pipeline tick

doctor: install
	$(BIN)/nacento-pipeline doctor

## Lint, types and the whole test suite (needs MariaDB on 127.0.0.1:3306 and PostgreSQL on 127.0.0.1:5432).
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

## Catalog-scale benchmark (see bench/README.md for sizes and options).
bench: install
	$(BIN)/python bench/gallery_bench.py

bench-smoke: install
	$(BIN)/python bench/gallery_bench.py --smoke

## Time the storefront cache step adds for 10,000 changed products, per backend (MariaDB, Redis, Varnish).
bench-cache: install
	$(BIN)/python bench/cache_bench.py

clean:
	rm -rf var .pytest_cache
