# Everyday commands. `make run` starts the service with demo data on the
# embedded defaults; `make test` runs the whole suite. Both create .venv first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
export VENV
BIN := $(VENV)/bin
# Touched by scripts/bootstrap.sh; the virtualenv is reinstalled only when
# pyproject.toml is newer than it.
STAMP := $(VENV)/.installed

.PHONY: help venv run test lint format bench clean distclean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@bash scripts/bootstrap.sh

venv: $(STAMP) ## Create .venv and install the project with its test extra

run: $(STAMP) ## Start web (PORT, default 8000), worker, beat and the Bedrock emulator with demo data
	@bash scripts/run_dev.sh

test: $(STAMP) ## The whole suite: ruff, lint-imports, pytest on SQLite, pytest -m postgres on a throwaway PostgreSQL
	@bash scripts/system_deps.sh test
	@bash scripts/run_tests.sh

lint: $(STAMP) ## ruff check, ruff format --check and the import-layer contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP) ## Fix what ruff can: imports, formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## Run every bench/*.py script
	@shopt -s nullglob; scripts=(bench/[!_]*.py); \
	if [[ $${#scripts[@]} -eq 0 ]]; then echo "No benchmarks in bench/ yet."; exit 0; fi; \
	for script in "$${scripts[@]}"; do \
		echo "==> $$script"; $(BIN)/python "$$script" || exit $$?; \
	done

clean: ## Remove caches, collected static files and test artefacts (keeps .venv and data/)
	rm -rf staticfiles test-artifacts .pytest_cache .ruff_cache build *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean ## Also remove .venv and data/ (the development database and broker)
	rm -rf $(VENV) data
