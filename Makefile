# notifier: run `make help` for the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help demo install test test-future unit integration lint typecheck check bench bench-quick clean

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

# Dates far from any date in the tests: months ahead, and years past any holiday table.
# libfaketime moves every process's clock by one offset (not to a start time), so the test
# and its notifier processes agree on the time. The monotonic clock stays real, or every
# timed wait would last years. The library is the one the `libfaketime` wheel (dev extra)
# ships: Debian's 0.9.10 fails time.sleep with EINVAL when the monotonic clock stays real.
FUTURE_DATES ?= 2027-07-15 2031-01-02
FUTURE_TESTS ?=
FAKETIME_LIB = $(shell $(BIN)/python -c "import importlib.util as u; \
  print(u.find_spec('libfaketime').submodule_search_locations[0])" 2>/dev/null)/vendor/libfaketime/src/libfaketime.so.1
test-future: $(STAMP) ## all tests with every process's clock moved to each of FUTURE_DATES (libfaketime)
	@test -f "$(FAKETIME_LIB)" || { echo "test-future: no libfaketime at $(FAKETIME_LIB)"; exit 2; }
	@set -e; for day in $(FUTURE_DATES); do \
	  offset=$$(printf '%+d' $$(( $$(date -u -d "$$day 10:00:00" +%s) - $$(date -u +%s) ))); \
	  echo "== the suite with the clock at $$day 10:00 UTC (offset $$offset s)"; \
	  moved="env LD_PRELOAD=$(FAKETIME_LIB) FAKETIME=$$offset FAKETIME_DONT_FAKE_MONOTONIC=1"; \
	  $$moved $(BIN)/python -c "import datetime as d, sys; t = d.date.today(); \
	    print('clock reads', t); sys.exit(t.isoformat() != '$$day')"; \
	  $$moved $(BIN)/pytest -q -p no:cacheprovider $(FUTURE_TESTS); \
	done

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
