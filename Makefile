# DHgate Monitor — the two commands: `make run` (the whole product) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app:create_app
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help run demo test test-browser lint ci venv translations messages migrate migration bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.runtime: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(BIN)/.dev ## Create the virtualenv with every pinned requirement

translations: $(BIN)/.runtime ## Compile the Dutch/English message catalogs
	@$(BIN)/pybabel -q compile --use-fuzzy -d translations

messages: $(BIN)/.runtime ## Extract translatable strings and merge them into the catalogs
	$(BIN)/pybabel -q extract -F babel.cfg --ignore-dirs='.* ._ tests bench scripts migrations sandbox' -k lazy_gettext -k _l -o translations/messages.pot .
	$(BIN)/pybabel -q update -N -i translations/messages.pot -d translations

migrate: $(BIN)/.runtime ## Apply database migrations
	@$(FLASK) db upgrade

migration: $(BIN)/.runtime ## Generate a migration from model changes: make migration m="what changed"
	$(FLASK) db migrate -m "$(m)"

run: $(BIN)/.runtime translations migrate ## Run web + worker + scheduler with embedded defaults
	@$(FLASK) users ensure-admin
	@$(BIN)/python scripts/run_all.py --host $(HOST) --port $(PORT)

demo: $(BIN)/.runtime translations ## Run everything against the local sandbox marketplace (own data in instance/demo/)
	@$(BIN)/python scripts/run_all.py --host $(HOST) --port $(PORT) --demo

test: $(BIN)/.dev translations lint ## Lint and type-check, then run the whole test suite on the embedded defaults
	@$(BIN)/pytest $(PYTEST_ARGS)

test-browser: $(BIN)/.dev translations ## Only the browser tests (needs Debian's chromium)
	@$(BIN)/pytest -m browser $(PYTEST_ARGS)

lint: $(BIN)/.dev ## Static checks: ruff on the whole tree, mypy on the application code (mypy.ini)
	@$(BIN)/ruff check .
	@$(BIN)/mypy

ci: ## What CI runs: embedded defaults, then PostgreSQL + Redis, then the browser tests
	bash .ci/run

bench: $(BIN)/.dev ## Run every benchmark, then one table of goals (BENCH_ARGS="--quick" for a smoke run)
	@$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean: ## Remove the virtualenv, caches and compiled catalogs (keeps instance/ data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
	find translations -name '*.mo' -delete
