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
# The newest sweep folder (multirun/<sweep>/<time>: time stamps sort in time order).
SWEEP_DIR ?= $(lastword $(sort $(wildcard multirun/$(SWEEP)/*/)))
# Extra Hydra overrides for the sweep targets, e.g. ARGS="seed=0,1 hydra.launcher.partition=gpu".
ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; else on=; off=; fi; \
	grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "}; {printf "  %s%-14s%s %s\n", on, $$1, off, $$2}'

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
	@# The jobs run side by side on the local launcher.
	$(VENV)/bin/epinet-al --config-dir sweeps --config-name compare -m hydra.sweep.dir=$(OUT)
	$(VENV)/bin/epinet-al-report $(OUT)

# The test marks (pyproject.toml): slow (too long for the fast suite), slurm (a running cluster), browser (Chromium).
PYTEST := $(PY) -m pytest -q

.PHONY: test
test: setup ## Fast tests: offline, CPU only, no cluster or browser (run before every commit)
	$(PYTEST) -n auto -m "not slow and not slurm and not browser"

.PHONY: test-slow
test-slow: setup ## Slow tests: end-to-end runs, kill and resume, sweeps
	$(PYTEST) -n auto -m "slow and not slurm and not browser"

.PHONY: test-slurm
test-slurm: setup ## SLURM tests: real sbatch jobs on the local cluster (make slurm-up first)
	@$(PY) -c 'import sys; from tests.slurm_cluster import missing_cluster; sys.exit(missing_cluster())'
	$(PYTEST) -m slurm

.PHONY: test-browser
test-browser: setup ## Browser test: headless Chromium (make browser-setup first)
	$(PYTEST) -m browser

.PHONY: test-all
test-all: setup ## All tests: fast, slow and browser; the SLURM ones skip unless a cluster is up
	$(PYTEST)

.PHONY: browser-setup
browser-setup: setup ## Install Chromium (apt-get, as root) and Playwright for the browser test
	apt-get update && apt-get install -y chromium
	$(PY) -m pip install --quiet -e ".[browser]"

.PHONY: lint
lint: setup ## Lint: ruff, the import-layer contracts (lint-imports), the package's types (mypy)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

.PHONY: clean
clean: ## Remove run outputs (keeps the virtualenv)
	rm -rf outputs multirun

# Runs sweep $(SWEEP) into a new folder multirun/$(SWEEP)/<time>; $(1): launcher overrides.
define run_sweep
	@test -f sweeps/$(SWEEP).yaml || { echo "no sweeps/$(SWEEP).yaml; sweeps: $(notdir $(basename $(wildcard sweeps/*.yaml)))" >&2; exit 2; }
	@dir=multirun/$(SWEEP)/$$(date +%Y-%m-%d_%H-%M-%S); \
	$(VENV)/bin/epinet-al --config-dir sweeps --config-name $(SWEEP) -m hydra.sweep.dir=$$dir $(1) $(ARGS); status=$$?; \
	echo "sweep $(SWEEP) written to $$dir; compare with: make report SWEEP=$(SWEEP)"; exit $$status
endef

.PHONY: sweep
sweep: setup ## Run sweeps/$(SWEEP).yaml locally into multirun/$(SWEEP)/<time>
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

.PHONY: docs-tables
docs-tables: setup ## Re-render the docs' tables in place from the results files they name (benchmarks/results/*.json)
	$(VENV)/bin/epinet-al-report --render-docs docs/*.md

.PHONY: bench-cost
bench-cost: setup ## Benchmark: time to score 1,000 SST-2 candidates per head, against a plain MiniLM pass
	$(PY) benchmarks/acquisition_cost.py $(BENCH_ARGS)

.PHONY: bench-overhead
bench-overhead: setup ## Benchmark: framework vs a bare PyTorch loop (steps/s), peak memory of MiniLM runs
	$(PY) benchmarks/framework_overhead.py $(BENCH_ARGS)

.PHONY: bench-buckets
bench-buckets: setup ## Benchmark: scoring 1,000 SST-2 candidates in length-sorted vs random-order batches of 64
	$(PY) benchmarks/scoring_buckets.py $(BENCH_ARGS)

.PHONY: bench-finetune
bench-finetune: setup ## Benchmark: training and scoring examples/CPU-s of full, top-2, top-1 and frozen MiniLM, padding per token (GLUE_DIR)
	nice -n 10 $(PY) benchmarks/finetune_modes.py $(BENCH_ARGS)

.PHONY: bench-ddp
bench-ddp: setup ## Benchmark: one MiniLM fine-tuning run on 1 vs 2 CPU processes (data parallel), steps/s (GLUE_DIR)
	$(PY) benchmarks/data_parallel.py $(BENCH_ARGS)

# Where `make wandb-sync` looks for offline W&B runs: the run and sweep folders of this clone by default; runs
# written elsewhere (hydra.run.dir, hydra.sweep.dir, a benchmark's --out) need their folders named here.
WANDB_DIRS ?= outputs multirun
WANDB ?= $(VENV)/bin/wandb

# A resumed run writes a new offline-run-<time>-<id> folder holding its whole curve (see
# epinet_al/tracking/wandb_tracker.py): only the newest folder of each run id is uploaded.
.PHONY: wandb-sync
wandb-sync: setup ## Upload the offline W&B runs under WANDB_DIRS (default: outputs multirun; needs WANDB_API_KEY)
	@runs=$$(find $(WANDB_DIRS) -type d -name 'offline-run-*' 2>/dev/null | awk -F/ '{print $$NF "\t" $$0}' | \
		sort -r | awk -F'\t' '{id = $$1; sub(/.*-/, "", id)} !seen[id]++ {print $$2}'); \
	if [ -z "$$runs" ]; then echo "no offline W&B runs under $(WANDB_DIRS); runs written elsewhere: make wandb-sync WANDB_DIRS='<folder> ...'"; \
	else $(WANDB) sync $$runs; fi

.PHONY: slurm-up
slurm-up: ## Start a single-node SLURM cluster here (root; installs packages, writes /etc/slurm)
	bash scripts/slurm-local.sh up

.PHONY: slurm-down
slurm-down: ## Stop the daemons that slurm-up started
	bash scripts/slurm-local.sh down

# The paper's protocol as experiments (conf/experiment/paper/<setting>.yaml), for each setting: stage 1 (every
# agent's configurations on the tuning seeds; when it has finished it writes stage 2), stage 2 (the chosen
# configurations on the reported seeds), then the report and its results file benchmarks/results/paper-<setting>.json.
# Each stage reruns only what is missing. ARGS goes to both stages, e.g. a cluster's launcher:
# ARGS="hydra/launcher=slurm hydra.launcher.partition=gpu" (docs/clusters.md). The GLUE settings read GLUE_DIR.
PAPER_CPU = D2_rho0.1 D10_rho0.1 D2_rho0.5 sst2 mnli cola stsb rte qnli
PAPER_LABELED = D2_rho0.1_labeled D10_rho0.1_labeled D10_rho0.1_labeled_long stsb_labeled qnli_labeled mnli_labeled
PAPER_TOP = sst2_top2 mnli_top2
# The settings make bench-paper runs, e.g. PAPER_SETTINGS="D2_rho0.1 rte".
PAPER_SETTINGS ?= $(PAPER_CPU) $(PAPER_LABELED) $(PAPER_TOP)
define paper_experiments
	@for setting in $(1); do \
		$(VENV)/bin/epinet-al -m experiment=paper/$$setting $(ARGS) && \
		$(VENV)/bin/epinet-al -m --config-dir multirun/paper-$$setting/reported --config-name report $(ARGS) && \
		$(VENV)/bin/epinet-al-report multirun/paper-$$setting/reported $(2) || exit $$?; \
	done
endef

.PHONY: bench-paper-smoke
bench-paper-smoke: setup ## Benchmark: the paper's protocol at a tiny scale (the testbed, 2 agents, 2 seeds): every stage, then its savings table
	rm -rf multirun/paper-smoke
	$(call paper_experiments,smoke,)
	@$(PY) -c 'import pandas as pd; print(pd.read_csv("multirun/paper-smoke/reported/report/savings.csv").to_string(index=False))'

.PHONY: bench-paper
bench-paper: setup ## Benchmark: the paper's protocol on the CPU: testbed (3 settings), SST-2, MNLI, CoLA, STS-B, RTE, QNLI, the train_on=labeled twins and the top-2 fine-tuned SST-2 and MNLI, or PAPER_SETTINGS (GLUE_DIR)
	$(call paper_experiments,$(PAPER_SETTINGS),--results benchmarks/results/paper-$$setting.json)

.PHONY: bench-paper-sst2
bench-paper-sst2: setup ## Benchmark: the paper's protocol on SST-2, frozen MiniLM, the full 65k pool (GLUE_DIR)
	$(call paper_experiments,sst2,--results benchmarks/results/paper-$$setting.json)

.PHONY: bench-paper-mnli
bench-paper-mnli: setup ## Benchmark: the paper's protocol on MNLI, frozen MiniLM pair features, matched dev as pool (GLUE_DIR)
	$(call paper_experiments,mnli,--results benchmarks/results/paper-$$setting.json)

.PHONY: bench-paper-glue4
bench-paper-glue4: setup ## Benchmark: the paper's protocol on RTE, STS-B, QNLI (dev as pool) and CoLA, frozen MiniLM (pair features; GLUE_DIR)
	$(call paper_experiments,rte stsb qnli cola,--results benchmarks/results/paper-$$setting.json)

.PHONY: bench-paper-labeled
bench-paper-labeled: setup ## Benchmark: the paper's protocol with the agents trained on every label so far (budget.train_on=labeled): testbed D=2/D=10, STS-B, QNLI, MNLI (GLUE_DIR)
	$(call paper_experiments,$(PAPER_LABELED),--results benchmarks/results/paper-$$setting.json)

.PHONY: bench-paper-top
bench-paper-top: setup ## Benchmark: the paper's protocol where curves rise, MiniLM's top two layers fine-tuned: SST-2 and MNLI (GLUE_DIR)
	$(call paper_experiments,$(PAPER_TOP),--results benchmarks/results/paper-$$setting.json)

.PHONY: bench-testbed
bench-testbed: setup ## Benchmark: testbed data efficiency in the pool protocol, every head x priority, 10 problems (sweeps/testbed_pool.yaml)
	$(MAKE) sweep SWEEP=testbed_pool && $(MAKE) report SWEEP=testbed_pool

.PHONY: bench-l2-scale
bench-l2-scale: setup ## Benchmark: the L2 scale per head on frozen MiniLM, fixed subsets of 100/400/1,600 SST-2 labels, judged on a tune split (GLUE_DIR)
	$(MAKE) sweep SWEEP=sst2_l2_scale ARGS="hydra.sweep.dir=multirun/sst2_l2_scale"
	$(PY) benchmarks/selection_diagnostics.py multirun/sst2_l2_scale --name sst2_l2_scale --tables scales \
	  --columns tune/nll tune/one_class '{split}/acc' --made-by "make bench-l2-scale"

.PHONY: bench-recipe
bench-recipe: setup ## Benchmark: the training recipe on the testbed, every head on fixed subsets of 10/30/100 labels, 10 problems, D = 10 and 2
	$(MAKE) sweep SWEEP=testbed_recipe ARGS="hydra.sweep.dir=multirun/testbed_recipe/D10"
	$(MAKE) sweep SWEEP=testbed_recipe ARGS="hydra.sweep.dir=multirun/testbed_recipe/D2 task.input_dim=2"
	for d in D10 D2; do \
	  $(PY) benchmarks/selection_diagnostics.py multirun/testbed_recipe/$$d --name testbed_recipe_$$d --tables heads paired \
	    --columns '{split}/nll' '{split}/joint_nll' '{split}/acc' '{split}/spread' --paired epinet/uniform '{split}/joint_nll' \
	    --made-by "make bench-recipe" || exit 1; \
	done
