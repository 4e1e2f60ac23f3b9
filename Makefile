# The two commands of the README. Both set up .venv on first use (idempotent) and then run.
#   make run    the main job with the default (quick, CPU-sized) configuration
#   make test   the test suite (fast set; `make test-slow` adds the long checks)
#   make smoke  the whole DAG on tiny slices (config/smoke.yaml, <= 5 min on 2 cores; CI runs it)
PY := .venv/bin/python
# Jobs run `python -m autosparse ...`: the project's environment comes first on PATH.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
CORES ?= $(shell nproc 2>/dev/null || echo 2)
TARGET ?= results/table4.csv

.PHONY: setup run test test-slow smoke lint bench
setup: .venv/.installed

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

run: setup
	snakemake --cores $(CORES) $(TARGET)

test: setup
	$(PY) -m pytest

smoke: setup
	snakemake --cores 2 all --configfile config/smoke.yaml

test-slow: setup
	$(PY) -m pytest -m slow

lint: setup
	.venv/bin/ruff check autosparse tests benchmarks
