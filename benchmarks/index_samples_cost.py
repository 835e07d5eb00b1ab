"""Benchmark: the CPU time of one scoring call of 640 SST-2 candidates against the number of index samples A.

The epinet + variance as a run scores (``Agent.score``, built as ``run_experiment`` builds it), with frozen
MiniLM features (the head alone runs) and with the encoder (``model.finetune=full``: the encoder runs once per
call, in length-sorted batches of ``budget.score_batch_size`` = 64), on one torch thread. CPU time of the
process (``time.process_time``), the median of ``--repeats`` calls after one untimed call: stable on a shared
machine where the wall clock is not. Writes benchmarks/results/index_samples_cost.json.

    GLUE_DIR=../shared/data/glue python benchmarks/index_samples_cost.py [--samples 1 30 100 300 1000 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from lightning_fabric import Fabric
from provenance import provenance, write_results  # the script folder is on sys.path

from epinet_al.acquisition.priorities import get_priority
from epinet_al.active_learning.specs import PrioritizedBudgetConfig
from epinet_al.config import to_experiment_config
from epinet_al.experiment import build_agent, build_module
from epinet_al.paths import CONFIG_DIR
from epinet_al.seeding import SeedStreams
from epinet_al.tasks.build import build_task

CANDIDATES = 640
# Fresh index draws per call (acquisition.fixed_index=false), so that setting the agent's A changes the call: a
# fixed set costs the same as a fresh one of its size.
OVERRIDES = ["task=sst2", "model=minilm", "task.max_pool_size=2000", "task.max_eval_size=10", "task.max_length=64",
             "head=epinet", "acquisition=variance", "acquisition.fixed_index=false", "budget=glue"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", nargs="+", type=int, default=[1, 30, 100, 300, 1000, 3000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "index_samples_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*`srun` command is available.*")
    fabric = Fabric(accelerator="cpu", devices=1)
    load_start, rows = os.getloadavg(), []
    for finetune in ("frozen", "full"):
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = to_experiment_config(compose("config", overrides=[*OVERRIDES, f"model.finetune={finetune}"]))
        task = build_task(cfg.task, cfg.eval, cfg.model, fabric.device)
        streams = SeedStreams.from_seed(0)
        agent = build_agent(fabric, cfg, build_module(cfg, task, streams), streams)
        budget = cfg.budget
        assert isinstance(budget, PrioritizedBudgetConfig)  # OVERRIDES' budget: the paper's loop
        candidates = torch.randperm(len(task.pool), generator=streams.acquisition)[:CANDIDATES]
        priority = get_priority("variance")
        for samples in args.samples:
            agent.num_index_samples = samples
            seconds = []
            for repeat in range(args.repeats + 1):
                start = time.process_time()
                agent.score(task.pool, candidates, priority, streams.acquisition, batch_size=budget.score_batch_size)
                if repeat:  # the first call is untimed (allocator, kernels)
                    seconds.append(time.process_time() - start)
            rows.append({"features": finetune, "num_index_samples": samples, "cpu_s": statistics.median(seconds)})
            print(f"{finetune:6s} A={samples:5d}: {rows[-1]['cpu_s']:.3f} CPU-s per call of {CANDIDATES}", flush=True)
    result = {**provenance(load_start), "candidates": CANDIDATES, "rows": rows}
    write_results(result, table(result), args.out)


def table(result: dict) -> dict:
    """The docs' table (``epinet-al-report --render``): CPU-s per scoring call, a column per A."""
    samples = list(dict.fromkeys(row["num_index_samples"] for row in result["rows"]))
    names = {"frozen": "frozen features (CPU-s per call)", "full": "encoder (CPU-s per call)"}
    rows = [
        [names[features], *(round(row["cpu_s"], 3 if row["cpu_s"] < 1 else 2)
                            for row in result["rows"] if row["features"] == features)]
        for features in dict.fromkeys(row["features"] for row in result["rows"])
    ]  # fmt: skip
    return {"columns": ["A", *(f"{a:,}" for a in samples)], "rows": rows}


if __name__ == "__main__":
    main()
