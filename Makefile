# evalmon: two commands on a fresh Debian/Ubuntu machine with Python 3.11+.
#   make demo   set everything up, then run the main job on the embedded defaults
#   make test   set everything up, then lint, type-check and run every test
SHELL := /bin/bash
.DEFAULT_GOAL := help

# llama-cpp-python is compiled from source the first time (about 5 minutes on 2 cores; uv
# caches the wheel afterwards); its CMake options are in pyproject.toml [tool.uv].
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1
export RAGAS_DO_NOT_TRACK ?= true

UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PY := .venv/bin/python

.PHONY: help setup test-services demo test lint bench clean

help:
	@echo "make demo   - set up and run the whole pipeline on the embedded defaults (demo-output/)"
	@echo "make test   - set up and run lint, types and the whole test suite"
	@echo "make bench  - set up and run the runner benchmarks (prints ratios)"

$(UV):
	@echo "uv not found: installing it from PyPI"
	python3 -m pip install --user --quiet uv || python3 -m pip install --user --quiet --break-system-packages uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked
	@touch $@

setup: .venv/.synced

test-services:
	@if ! command -v promtool >/dev/null || ! command -v prometheus-pushgateway >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's prometheus and prometheus-pushgateway"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway >/dev/null; \
	  else echo "note: prometheus/pushgateway missing and not root: their tests will skip"; fi; \
	fi

# The main job on the embedded defaults (local SmolLM2, one DuckDB file, no Prefect server):
# gate an example prompt change, a small position benchmark, ingest the bundled traffic,
# judge its 1% sample, export the metrics; everything goes to demo-output/.
demo: setup
	$(PY) -m flows.demo --out demo-output

lint: setup
	$(PY) -m ruff check evals metrics flows tests
	$(PY) -m ruff format --check evals metrics flows tests
	$(PY) -m mypy
	.venv/bin/lint-imports

test: setup test-services lint
	$(PY) -m pytest

bench: setup
	$(PY) -m tests.bench

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache evalmon.duckdb evalmon.duckdb.journal demo-output
