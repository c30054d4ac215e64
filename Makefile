# whistle: the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8080
DB     ?= var/whistle.sqlite3
CONFIG ?= config

.PHONY: install run test lint typecheck pytest chromium sample bench bench-large clean soak \
	pg-up pg-down pg-maybe run-cluster

# Front-end libraries (Apache ECharts) come from npm into ./node_modules, never into the repo.
# npm is required when CI=true; elsewhere a machine without npm gets a warning, and the pages
# that draw maps say the library is missing.
NODE_STAMP := node_modules/.whistle-stamp

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(NODE_STAMP): package.json $(wildcard package-lock.json)
	@if command -v npm >/dev/null 2>&1; then \
	  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
	  else npm install --no-audit --no-fund; fi && touch $@; \
	elif [ "$$CI" = "true" ]; then echo "make: npm is required (CI=true)" >&2; exit 1; \
	else echo "make: npm not found: skipping ECharts (the /grids map needs it)" >&2; fi

install: $(STAMP) $(NODE_STAMP)

run: $(STAMP) $(NODE_STAMP)
	mkdir -p $(dir $(DB))
	$(BIN)/whistle serve --host $(HOST) --port $(PORT) --db $(DB) --config $(CONFIG) --demo

lint: $(STAMP)
	$(BIN)/ruff check whistle grids dispatch tests bench
	$(BIN)/ruff format --check whistle grids dispatch tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(NODE_STAMP) chromium pg-maybe
	$(BIN)/pytest

# A local PostgreSQL for development and the PostgreSQL tests (scripts/pg.sh): installed with
# apt-get when missing and we are root, its cluster and data under var/pg/, run as the
# postgres user; the URL is written to var/pg/url and printed. Running it again is harmless.
pg-up:
	@scripts/pg.sh up

pg-down:
	@scripts/pg.sh down

# pg-up, then three whistle processes on one PostgreSQL database, on ports 8080-8082, with the
# demo logins (made once, by the first); Ctrl-C stops all three (scripts/run-cluster.sh).
run-cluster: $(STAMP) $(NODE_STAMP)
	@PYTHON=$(BIN)/python HOST=$(HOST) CONFIG=$(CONFIG) scripts/run-cluster.sh

# What `make pytest` runs first: a PostgreSQL when one can be had. Where it cannot, the
# PostgreSQL tests skip with the reason; under CI=true this fails instead.
pg-maybe:
	@scripts/pg.sh up >/dev/null || { \
	  if [ "$$CI" = "true" ]; then echo "make: PostgreSQL is required (CI=true)" >&2; exit 1; \
	  else echo "make: no PostgreSQL: the PostgreSQL tests will skip" >&2; fi; }

# The browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright. Installed
# here when missing and we are root; otherwise the tests skip with the reason (under CI=true
# they fail instead). A CJK font makes the screenshots legible.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium fonts-wqy-microhei) || echo "make: could not install chromium" >&2; \
	  else echo "make: chromium missing and not root: browser tests will skip" >&2; fi; }

test: lint typecheck pytest

# Regenerate the shipped sample county (deterministic).
sample: $(STAMP)
	$(BIN)/whistle sample-county $(CONFIG) --seed 530524

clean: pg-down
	rm -rf $(VENV) node_modules var build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# Benchmarks: not part of the test suite (timings are measured, never asserted in tests).
# Every section in one run, the merged table in var/bench/ and docs/performance.md.
# SSE_BASELINE=<git ref> (e.g. main) also measures the event stream with that ref's code.
SSE_BASELINE ?=
bench: $(STAMP) pg-maybe
	WHISTLE_SSE_BASELINE=$(SSE_BASELINE) $(BIN)/python bench/run.py --size full --docs

# The sizes that take longer than make bench's ten minutes: the whole province (2.8 million
# cells, about 9 GB) and 5,000,000 cases (about 18 GB on disk, close to an hour to generate;
# kept in var/bench and reused). Writes docs/performance-large.md.
bench-large: $(STAMP)
	$(BIN)/python bench/run.py --size large --sections province,routing,stats --docs

# Reliability at full size: 20 SIGKILLs mid-intake, a locked database, a full disk (root: a
# tmpfs), a read-only filesystem (root: a loop-mounted ext4), bad webhook receivers, overload,
# SIGTERM bursts, and the 10-minute soak (figures printed and written to var/soak.json).
# `make test` runs the same tests at CI size (the soak for 20 s).
soak: $(STAMP)
	WHISTLE_FULL=1 $(BIN)/pytest tests/reliability -m reliability -p no:cacheprovider
