# One entry point for people and CI. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NACENTO_VAR_DIR ?= var

.PHONY: help install lock services demo dev drop tick doctor test test-fast lint bench bench-smoke bench-cache clean

## List the targets.
help:
	@awk '/^## /{doc=substr($$0,4); next} /^[a-z][a-z-]*:/{if(doc){split($$0,t,":"); printf "  make %-12s %s\n", t[1], doc}; doc=""}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $@

## Create .venv and install the project with its test tools at the versions of requirements.lock.
install: $(VENV)/.installed

## Re-pin requirements.lock to what pyproject.toml resolves to today (then review the diff and commit it).
lock: | $(BIN)/python
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[test]'
	{ echo "# Pinned by 'make lock' from pyproject.toml; 'make install' installs exactly these."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable; } > requirements.lock
	rm -rf .lock-venv

## Install (apt-get, as root) and start what the tests talk to: MariaDB, PostgreSQL, Redis, Varnish, Chromium.
services:
	scripts/services.sh

## Run the pipeline end to end on the embedded default (local folder bucket, SQLite Magento database).
demo: install
	$(BIN)/nacento-pipeline demo

## Dagster UI + daemon on the embedded default (sensor, schedules, backfills): http://127.0.0.1:3000
dev: install
	NACENTO_VAR_DIR=$(NACENTO_VAR_DIR) exec $(BIN)/nacento-pipeline dev

## Drop another sample batch (changed image content, new labels, a disabled and a removed image).
drop: install
	$(BIN)/nacento-pipeline drop-sample

## One sensor tick and the runs it requests, without the daemon.
tick: install
	$(BIN)/nacento-pipeline tick

## Check that the configured bucket and Magento database are reachable and usable.
doctor: install
	$(BIN)/nacento-pipeline doctor

## Services, lint, types and the whole test suite: everything a fresh machine needs, nothing typed first.
test: install services lint
	$(BIN)/python -m pytest -q -n auto

## The pure tests (core, settings, layers, local storage; no service, no Dagster run): under a minute.
test-fast: install
	$(BIN)/python -m pytest -q -m "not integration" nacento_pipeline_tests/core nacento_pipeline_tests/storage \
		nacento_pipeline_tests/resources nacento_pipeline_tests/test_config.py nacento_pipeline_tests/test_layers.py

## ruff (lint and format) and mypy.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Catalog-scale benchmark (see bench/README.md for sizes and options), then 1M and 2M images through pim_batch_job
## (bench/scale_bench.py: both peaks and their ratio).
bench: install
	$(BIN)/python bench/gallery_bench.py
	$(BIN)/python bench/scale_bench.py

## The benchmark on a tiny catalog (seconds): checks that it runs.
bench-smoke: install
	$(BIN)/python bench/gallery_bench.py --smoke

## Time the storefront cache step adds for 10,000 changed products, per backend (MariaDB, Redis, Varnish).
bench-cache: install
	$(BIN)/python bench/cache_bench.py

## Remove var/ (the demo's bucket, database and Dagster home) and pytest's cache.
clean:
	rm -rf var .pytest_cache
