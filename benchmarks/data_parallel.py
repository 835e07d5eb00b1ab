"""Benchmark: one run on 1 and on 2 processes (data parallel, trainer.devices=2), steps per second.

A full fine-tuning run of MiniLM on SST-2 (``model=minilm model.finetune=full``, the epinet head,
``variance``), the paper's prioritized loop: each step scores N = 64 candidates (A = 20 index samples,
sentences cut to 64 tokens) in 4 forward batches of 16, shared out over the ranks, and takes one SGD step on
the top n = 16 (each rank its half, gradients all-reduced); a 2,000-sentence pool. Evaluated once, at the
end, on a small dev subset. Timed: the steps after the first few (warm-up), from a Fabric callback that
runs before each training step (``on_before_train_step``); task building, start-up and the final
evaluation are not counted. Three configurations: 1 process with 1 torch thread, 2 processes with 1 thread
each (2 cores), and 1 process with 2 threads (the same 2 cores used by threads instead); CPU, gloo,
processes forked (``trainer.strategy=ddp_fork``). ``--rounds`` rounds of the three, the order alternating;
the medians are reported, with the load average (the development machine is shared).

    GLUE_DIR=/work/shared/data/glue python benchmarks/data_parallel.py [--steps 30] [--warmup 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from provenance import provenance, write_results  # the script folder is on sys.path

from epinet_al.config import to_experiment_config
from epinet_al.experiment import run_experiment
from epinet_al.paths import CONFIG_DIR


def overrides(steps: int, processes: int, threads: int) -> list[str]:
    return [
        "task=sst2",
        "model=minilm",
        "model.finetune=full",
        "task.max_length=64",
        "task.max_pool_size=2000",
        "task.max_eval_size=64",
        "head=epinet",
        "acquisition=variance",
        "acquisition.num_index_samples=20",
        "eval.num_index_samples=5",
        "budget=glue",
        "budget.candidate_batch_size=64",
        "budget.score_batch_size=16",
        "budget.batch_size=16",
        f"budget.max_steps={steps}",
        "budget.eval_labels=[]",
        "budget.eval_every=0",
        f"budget.max_labels={16 * steps}",
        "trainer.accelerator=cpu",
        f"trainer.devices={processes}",
        "trainer.strategy=ddp_fork",
        f"trainer.num_threads={threads}",
        "progress_bar=false",
        "logger=none",
    ]


class Clock:
    """A Fabric callback: each rank appends the times of the training steps ``at`` to ``timings``."""

    def __init__(self, at: tuple[int, ...], timings: Path):
        self.at, self.timings = at, timings

    def on_before_train_step(self, step: int) -> None:
        if step in self.at:
            with open(self.timings, "a") as handle:
                handle.write(f"{os.getpid()} {step} {time.perf_counter()}\n")


def steps_per_second(steps: int, warmup: int, processes: int, threads: int, timings: Path) -> float:
    """Run once; every rank writes the times of steps warmup+1 and steps (``Clock``)."""
    timings.unlink(missing_ok=True)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = to_experiment_config(compose(config_name="config", overrides=overrides(steps, processes, threads)))
    with tempfile.TemporaryDirectory() as folder:
        run_experiment(cfg, Path(folder) / "run", callbacks=[Clock((warmup + 1, steps), timings)])
    by_process: dict[str, dict[int, float]] = {}
    for line in timings.read_text().split("\n"):
        if line:
            pid, step, at = line.split()
            by_process.setdefault(pid, {})[int(step)] = float(at)
    # Every rank waits for the others at each step: the slowest rank's span is the run's.
    span = max(times[steps] - times[warmup + 1] for times in by_process.values())
    return (steps - warmup - 1) / span


CONFIGS = [("1 process, 1 thread", 1, 1), ("2 processes, 1 thread each", 2, 1), ("1 process, 2 threads", 1, 2)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every configuration, order alternating")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "data_parallel.json")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    timings = Path(tempfile.gettempdir()) / f"data_parallel_{os.getpid()}.txt"
    load_before = os.getloadavg()
    rates: dict[str, list[float]] = {label: [] for label, _, _ in CONFIGS}
    for round_ in range(args.rounds):
        for label, processes, threads in CONFIGS if round_ % 2 == 0 else CONFIGS[::-1]:
            rate = steps_per_second(args.steps, args.warmup, processes, threads, timings)
            rates[label].append(round(rate, 3))
            print(f"round {round_ + 1}, {label}: {rate:.3f} steps/s (load {os.getloadavg()[0]:.1f})", flush=True)
    median = {label: statistics.median(values) for label, values in rates.items()}
    two = median["2 processes, 1 thread each"]
    report = {
        **provenance(load_before),
        "steps_per_second_median": median,
        "steps_per_second_rounds": rates,
        "speedup_2_processes_vs_1_process_1_thread": round(two / median["1 process, 1 thread"], 2),
        "speedup_2_processes_vs_1_process_2_threads": round(two / median["1 process, 2 threads"], 2),
        "timed_steps_per_run": args.steps - args.warmup - 1,
    }
    write_results(report, table(report), args.out)


def table(report: dict) -> dict:
    """The docs' table (``epinet-al-report --render``): steps/s per configuration, then the speedups."""
    median, rounds = report["steps_per_second_median"], report["steps_per_second_rounds"]
    rows = [[label, median[label], ", ".join(map(str, rounds[label]))] for label, _, _ in CONFIGS]
    notes = [f"2 processes against 1 process with 1 thread: {report['speedup_2_processes_vs_1_process_1_thread']}x; "
             f"against 1 process using the same 2 cores by threads: "
             f"{report['speedup_2_processes_vs_1_process_2_threads']}x."]  # fmt: skip
    return {"columns": ["configuration", "steps/s (median)", "rounds"], "rows": rows, "notes": notes}


if __name__ == "__main__":
    main()
