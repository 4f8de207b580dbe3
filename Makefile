# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test test-slow test-all bench bench-all lint compose-check image clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

$(VENV)/.server-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[server]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	@touch $@ $(VENV)/.server-installed

## Set up and start the service on 127.0.0.1:8000 (VERIRL_PORT=8001 make run for another port;
## embedded mode unless REDIS_URL is set). The CLI is then .venv/bin/verirl.
run: $(VENV)/.server-installed
	$(BIN)/verirl serve

# Test files run on 2 processes (pytest-xdist; a file's tests stay in one process, so its
# server and Redis fixtures start once). TEST_JOBS=1 runs them in this process.
TEST_JOBS ?= 2
XDIST = $(if $(filter 1,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)

## Set up and run the whole test suite (fast tests; see test-slow).
test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

## Long fault and load tests.
test-slow: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-all: $(VENV)/.dev-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## One table: every speed ratio against its baseline, measured in the same run, wall and CPU time.
bench: $(VENV)/.dev-installed
	$(BIN)/python bench/summary.py

## Every bench script's own detailed tables.
bench-all: $(VENV)/.dev-installed
	$(BIN)/python bench/summary.py
	$(BIN)/python bench/score_bench.py
	$(BIN)/python bench/math_bench.py
	$(BIN)/python bench/task_bench.py
	$(BIN)/python bench/code_bench.py
	$(BIN)/python bench/language_bench.py
	$(BIN)/python bench/trainer_bench.py
	$(BIN)/python bench/serving_bench.py
	$(BIN)/python bench/curation_bench.py
	$(BIN)/python bench/load.py

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check verirl verirl_app service workers sandbox tests bench examples

## The Dockerfile has no BuildKit-only syntax; docker-compose.yml validates with `docker compose` and/or `docker-compose`.
compose-check:
	.ci/compose_check.sh

## Build the image with the legacy builder (skipped, with one line saying why, without Docker or base image).
image:
	.ci/build_image.sh

clean:
	rm -rf $(VENV) data .pytest_cache
