# whistle: the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8080
DB     ?= var/whistle.sqlite3
CONFIG ?= config

.PHONY: install run test lint typecheck pytest sample bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	mkdir -p $(dir $(DB))
	$(BIN)/whistle serve --host $(HOST) --port $(PORT) --db $(DB) --config $(CONFIG) --demo

lint: $(STAMP)
	$(BIN)/ruff check whistle grids dispatch tests bench
	$(BIN)/ruff format --check whistle grids dispatch tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

# Regenerate the shipped sample county (deterministic).
sample: $(STAMP)
	$(BIN)/whistle sample-county $(CONFIG) --seed 530524

clean:
	rm -rf $(VENV) var build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# Benchmarks: not part of the test suite (timings are measured, never asserted in tests).
bench: $(STAMP)
	$(BIN)/python bench/intake.py
