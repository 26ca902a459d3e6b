# notifier: run `make help` for the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help demo install test unit integration lint typecheck check bench bench-quick clean

help: ## show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install notifier with its dev tools

demo: $(STAMP) ## run the example cases end to end (embedded store, letters in ./outbox)
	$(BIN)/notifier demo

test: $(STAMP) ## all tests: unit and integration (integration needs redis-server)
	$(BIN)/pytest -q

unit: $(STAMP) ## unit tests only (fakeredis, stub parts)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) ## integration tests only (real redis-server, worker processes)
	$(BIN)/pytest -q -m integration tests/integration

lint: $(STAMP) ## ruff (notifier, tests, bench)
	$(BIN)/ruff check notifier tests bench

typecheck: $(STAMP) ## mypy --strict on notifier/
	$(BIN)/mypy

check: lint typecheck test ## lint, typecheck and all tests

bench: $(STAMP) ## benchmark at full size (1M pending letters; about 20 min; needs redis-server)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP) ## benchmark at small size (a few minutes; needs redis-server)
	$(BIN)/python bench/run.py --quick

clean: ## remove the virtual environment and outputs
	rm -rf $(VENV) outbox .pytest_cache .mypy_cache .ruff_cache build *.egg-info
