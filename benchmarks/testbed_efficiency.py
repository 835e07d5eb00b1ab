"""Benchmark: data efficiency on the synthetic neural testbed, every head x priority, 10 problems.

Protocol: the pool-based loop with re-initialisation (``budget=pool``), so every point of a curve
is a model trained from its initial weights on exactly the labels counted (no confounding of labels
with training steps). Each seed is a new testbed problem (``task.seed=${seed}``); all agents see the
same ten problems. For each (input dimension, temperature) setting the script writes the comparison
report (``epinet_al.report``) with the plain head without prioritization (``mlp/uniform``) as the
baseline, and prints a Markdown table for docs/benchmarks.md.

    python benchmarks/testbed_efficiency.py [--seeds 10] [--workers 2] [--out benchmarks/results/testbed]
        [--settings D2_rho0.1,...] [--agents mlp/uniform,epinet/variance,...]

Runs already finished (summary.json present) are skipped, so an interrupted benchmark continues
(benchmarks/runs.py).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from runs import run_jobs

# (input_dim, temperature): the make-run default first, then two other testbed settings.
SETTINGS = [(2, 0.1), (10, 0.1), (2, 0.5)]
HEADS = ["mlp", "epinet", "dropout", "ensemble"]
PRIORITIES = ["uniform", "entropy", "margin", "bald", "variance"]
EPISTEMIC = {"bald", "variance"}
BUDGET = [
    "budget=pool",
    "budget.max_labels=100",
    "budget.initial_labels=10",
    "budget.acquire_size=10",
    # Steps and batch per round: the pool budget's defaults, the training recipe (1,000 steps of batch 100).
    "trainer.num_threads=1",
    "progress_bar=false",
]


def agents() -> list[tuple[str, str]]:
    """Every valid (head, priority): an epistemic priority needs a head with an index."""
    return [(h, p) for h, p in itertools.product(HEADS, PRIORITIES) if not (h == "mlp" and p in EPISTEMIC)]


def setting_name(input_dim: int, temperature: float) -> str:
    return f"D{input_dim}_rho{temperature}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/testbed"))
    parser.add_argument("--settings", default=",".join(setting_name(*s) for s in SETTINGS))
    parser.add_argument("--agents", default=None, help="comma-separated head/priority subset (default: every agent)")
    args = parser.parse_args()
    chosen = [s for s in SETTINGS if setting_name(*s) in args.settings.split(",")]
    valid = [f"{h}/{p}" for h, p in agents()]
    wanted = args.agents.split(",") if args.agents else valid
    unknown = [a for a in wanted if a not in valid]
    if unknown:
        parser.error(f"unknown agent {unknown[0]!r}; valid: {', '.join(valid)}")
    chosen_agents = [(h, p) for h, p in agents() if f"{h}/{p}" in wanted]

    from epinet_al.report import load_sweep, summarize, summary_table, write_report

    for input_dim, temperature in chosen:
        root = args.out / setting_name(input_dim, temperature)
        jobs = []
        for (head, priority), seed in itertools.product(chosen_agents, range(args.seeds)):
            out_dir = root / head / priority / f"seed{seed}"
            overrides = [
                *BUDGET,
                f"task.input_dim={input_dim}",
                f"task.temperature={temperature}",
                f"head={head}",
                f"acquisition={priority}",
                f"seed={seed}",
                f"sweep=bench-testbed-{setting_name(input_dim, temperature)}",
            ]
            jobs.append((overrides, str(out_dir)))
        run_jobs(jobs, args.workers, str(root))

        sweep = load_sweep(root)
        summary = summarize(sweep.runs, baseline="mlp/uniform")
        report = write_report(summary, root / "report", skipped=sweep.skipped)
        print(f"\n### testbed D={input_dim}, temperature={temperature} ({args.seeds} problems)\n")
        print(markdown_table(summary_table(summary)))
        print(f"\nreport: {report}\n", flush=True)


def markdown_table(table) -> str:
    """The benchmark's columns of the report's summary table, as Markdown."""
    lines = [
        "| agent | AUC test/nll | AUC − baseline (paired) | final test/nll | labels to reach baseline's final "
        "| savings |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in table.itertuples():
        reach = "—" if row.labels_to_reach != row.labels_to_reach else f"{row.labels_to_reach:.0f}"
        savings = "—" if row.savings != row.savings else f"{row.savings:.2f}x"
        diff = "—" if row.auc_diff_mean != row.auc_diff_mean else f"{row.auc_diff_mean:+.4f} ± {row.auc_diff_ci:.4f}"
        lines.append(
            f"| {row.agent} | {row.auc_mean:.4f} ± {row.auc_ci:.4f} | {diff} "
            f"| {row.final_mean:.4f} ± {row.final_ci:.4f} | {reach} | {savings} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
