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

.venv/.installed: pyproject.toml $(wildcard plugins/*/pyproject.toml plugins/*/*/*.py)
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# Snakemake's compact job log (workflow/profiles/default selects it). Not editable: Snakemake finds
	# logger plugins by module scan, which editable installs escape.
	$(PY) -m pip install -q ./plugins/snakemake-logger-plugin-autosparse
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
	.venv/bin/ruff check autosparse tests benchmarks plugins
