"""Benchmark: GLUE data efficiency at matched numbers of labels, every agent tuned alike on a tune split.

For each task, agent (head/priority) and label budget b on a grid: one run of the prioritized loop
that acquires b labels and keeps training on them, ``EPOCHS`` passes over b in all (at least
``MIN_STEPS`` steps), evaluated once at the end on the tune split carved out of the pool split
(``task.tune_size``, never acquired) and on the GLUE dev split, which serves as the test set. The
learning rate and batch size are swept on one grid for every agent; for each (task, agent, budget)
the configuration with the best mean tune metric over the seeds is kept, and only its dev metric is
reported. Each seed's dev metric against b then goes through the project's report (epinet_al.report)
with mlp/uniform (a random subset of size b) as the baseline: area under the curve over log2(b),
labels needed to reach the baseline's dev metric at the largest budget, savings, and the paired
per-seed difference of the area against the baseline.

    python benchmarks/glue_efficiency.py --mode frozen [--tasks sst2,rte] [--seeds 5] [--workers 2]
    python benchmarks/glue_efficiency.py --mode full     # SST-2 and RTE, the encoder fine-tuned

GLUE_DIR must point at the GLUE folder. Finished runs are skipped (benchmarks/runs.py); the tables
(Markdown, CSV with every run and every choice) and the report go under --out/<mode>.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from runs import run_jobs

BASELINE = "mlp/uniform"
EPOCHS = 10  # the paper's baseline: 10 epochs over each random subset
MIN_STEPS = 200  # so that the smallest budgets with the largest batch still converge
CANDIDATES_PER_LABEL = 10  # N = 10 n candidates scored per step


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A task as the benchmark runs it: overrides, its primary metric's name, the split sizes it allows."""

    name: str
    metric: str  # the dev metric reported (the split as the task names it)
    overrides: tuple[str, ...] = ()
    tune_size: int = 500
    max_budget: int = 1600
    max_candidates: int = 10_000  # N is capped by the pool left after the tune split
    regression: bool = False
    num_classes: int = 2


TASKS = {
    spec.name: spec
    for spec in [
        TaskSpec("sst2", "val/acc"),
        TaskSpec("cola", "val/matthews"),
        TaskSpec("rte", "val/acc"),
        TaskSpec("stsb", "val/pearson", regression=True),
        TaskSpec("wnli", "val/acc", tune_size=100, max_budget=400, max_candidates=535),
        # Only 320 QNLI training rows are here: the 5,463 dev rows are the pool, the 320 train rows the test set.
        TaskSpec("qnli", "train/acc", ("task.pool_split=dev", "task.eval_splits=[train]")),
        # No MNLI train file here: the matched dev file is the pool, the mismatched dev file the test set.
        TaskSpec(
            "mnli",
            "val_mismatched/acc",
            ("task.pool_split=supplementary_dev_matched", "task.eval_splits=[supplementary_dev_mismatched]"),
            num_classes=3,
        ),
    ]
}


@dataclasses.dataclass(frozen=True)
class Mode:
    """How the encoder is used, and the grid every agent is tuned on."""

    tasks: tuple[str, ...]
    seeds: int
    tune_seeds: int  # seeds 0..tune_seeds-1 run the whole grid; the others only each budget's chosen config
    budgets: tuple[int, ...]
    learning_rates: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    lr_key: str  # the learning rate that is swept: the head's (frozen) or the encoder's (full)
    overrides: tuple[str, ...] = ()
    heads: tuple[str, ...] = ("mlp", "epinet", "dropout", "ensemble")
    only_agents: tuple[str, ...] = ()  # "head/priority" names to keep (empty: every agent of the heads)


MODES = {
    "frozen": Mode(
        tasks=tuple(TASKS),
        seeds=5,
        tune_seeds=2,
        budgets=(100, 200, 400, 800, 1600),
        learning_rates=(1e-3, 1e-2),
        batch_sizes=(16, 64),
        lr_key="trainer.optimizer.lr",
        overrides=("model=minilm",),  # and with it each head's L2 scale for MiniLM (conf/model_head)
    ),
    "full": Mode(
        tasks=("sst2", "rte"),
        seeds=3,
        tune_seeds=3,
        budgets=(100, 200, 400),
        learning_rates=(3e-5, 1e-4),
        batch_sizes=(16,),
        lr_key="model.lr",
        overrides=(
            "model=minilm",
            "model.finetune=full",
            "model.pair_encoding=joint",  # separate needs frozen features
            "task.max_length=64",
            "eval.num_index_samples=10",
        ),
        heads=("mlp", "epinet"),
    ),
}


def agents(spec: TaskSpec, heads: tuple[str, ...]) -> list[tuple[str, str]]:
    """(head, priority) pairs: uniform on every head, the heuristics on the plain head, variance on the ENNs.

    Margin ranks like entropy on two classes, so it runs on tasks with more; STS-B (regression) takes
    no classification priority.
    """
    pairs = [(head, "uniform") for head in heads if head in ("mlp", "epinet")]
    if not spec.regression:
        pairs.append(("mlp", "entropy"))
        if spec.num_classes > 2:
            pairs.append(("mlp", "margin"))
    pairs += [(head, "variance") for head in heads if head != "mlp"]
    return pairs


def budgets(spec: TaskSpec, mode: Mode) -> list[int]:
    return [b for b in mode.budgets if b <= spec.max_budget]


# One point of the grid: (head, priority, budget, learning rate, batch size).
Point = tuple[str, str, int, float, int]


def grid(spec: TaskSpec, mode: Mode) -> list[Point]:
    pairs = [(h, p) for h, p in agents(spec, mode.heads) if not mode.only_agents or f"{h}/{p}" in mode.only_agents]
    points = itertools.product(pairs, budgets(spec, mode), mode.learning_rates, mode.batch_sizes)
    return [(head, priority, budget, lr, batch_size) for (head, priority), budget, lr, batch_size in points]


def run_dir(root: Path, point: Point, seed: int) -> Path:
    head, priority, budget, lr, batch_size = point
    return root / head / priority / f"b{budget}" / f"lr{lr:g}_bs{batch_size}" / f"seed{seed}"


def jobs_for(
    spec: TaskSpec, mode: Mode, mode_name: str, root: Path, points: list[Point], seeds: range, extra: list[str]
) -> list[tuple[list[str], str]]:
    jobs = []
    for point, seed in itertools.product(points, seeds):
        head, priority, budget, lr, batch_size = point
        steps = max(math.ceil(EPOCHS * budget / batch_size), MIN_STEPS)
        overrides = [
            f"task={spec.name}",
            *spec.overrides,
            f"task.tune_size={spec.tune_size}",
            *mode.overrides,
            f"head={head}",
            f"acquisition={priority}",
            "budget=prioritized",
            f"budget.max_labels={budget}",
            f"budget.batch_size={batch_size}",
            f"budget.candidate_batch_size={min(CANDIDATES_PER_LABEL * batch_size, spec.max_candidates)}",
            f"budget.max_steps={steps}",
            "budget.eval_labels=[]",
            "budget.eval_every=0",
            f"{mode.lr_key}={lr}",
            f"seed={seed}",
            "trainer.num_threads=1",
            "progress_bar=false",
            "keep_state=false",
            f"sweep=bench-glue-{mode_name}",
            *extra,
        ]
        jobs.append((overrides, str(run_dir(root, point, seed))))
    return jobs


def load_finals(spec: TaskSpec, mode: Mode, root: Path, seeds: int) -> pd.DataFrame:
    """One row per finished run: its agent, budget, configuration, seed and final metrics."""
    rows = []
    for point, seed in itertools.product(grid(spec, mode), range(seeds)):
        path = run_dir(root, point, seed) / "summary.json"
        if not path.is_file():
            continue
        head, priority, budget, lr, batch_size = point
        final = json.loads(path.read_text())["final"]
        rows.append(
            {
                "task": spec.name,
                "agent": f"{head}/{priority}",
                "head": head,
                "priority": priority,
                "budget": budget,
                "lr": lr,
                "batch_size": batch_size,
                "seed": seed,
                "num_labels": final["num_labels"],
                "step": final["step"],
                **{k: v for k, v in final.items() if "/" in k and k != "train/loss"},
            }
        )
    return pd.DataFrame(rows)


def choose_configs(finals: pd.DataFrame, spec: TaskSpec, tune_seeds: int) -> pd.DataFrame:
    """Per (agent, budget): the (lr, batch size) with the best mean tune metric over the tuning seeds."""
    tune_metric = "tune/" + spec.metric.split("/", 1)[1]
    tuning = finals[finals["seed"] < tune_seeds]
    means = tuning.groupby(["agent", "budget", "lr", "batch_size"], as_index=False)[tune_metric].mean()
    best = means.loc[means.groupby(["agent", "budget"])[tune_metric].idxmax()]
    best = best.rename(columns={tune_metric: "tune_mean"}).reset_index(drop=True)
    best["head"] = best["agent"].str.split("/").str[0]
    best["priority"] = best["agent"].str.split("/").str[1]
    return best


def chosen_points(chosen: pd.DataFrame) -> list[Point]:
    return [(r.head, r.priority, int(r.budget), float(r.lr), int(r.batch_size)) for r in chosen.itertuples()]


def matched_label_runs(finals: pd.DataFrame, chosen: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
    """The chosen runs as the report reads runs: one curve per (agent, seed), one point per budget."""
    runs = finals.merge(chosen[["agent", "budget", "lr", "batch_size"]], on=["agent", "budget", "lr", "batch_size"])
    runs = runs.sort_values(["agent", "seed", "budget"]).reset_index(drop=True)
    runs["num_labels"] = runs["budget"]
    runs["run"] = runs["agent"] + "/seed" + runs["seed"].astype(str)
    runs["metric"], runs["mode"] = spec.metric, "max"
    identity = ["task", "agent", "head", "priority", "seed", "run", "metric", "mode", "step", "num_labels"]
    metrics = [c for c in runs.columns if "/" in c and not c.startswith("tune/")]
    return runs[identity + metrics]


def markdown_table(table: pd.DataFrame, chosen: pd.DataFrame, metric: str, budget_grid: list[int]) -> str:
    header = " | ".join(f"{b}" for b in budget_grid)
    lines = [
        f"| agent | {metric} at {header} labels | AUC | Δ AUC vs baseline (paired) | labels to reach baseline | "
        "savings | chosen lr/bs per budget |",
        "|---|" + "--:|" * (len(budget_grid) + 4) + "---|",
    ]
    for row in table.itertuples():
        values = " | ".join(f"{row.curve[b]:.3f}" if b in row.curve else "—" for b in budget_grid)
        reach = "—" if np.isnan(row.labels_to_reach) else f"{row.labels_to_reach:.0f}"
        savings = "—" if np.isnan(row.savings) else f"{row.savings:.2f}x"
        diff = "—" if np.isnan(row.auc_diff_mean) else f"{row.auc_diff_mean:+.3f} ± {row.auc_diff_ci:.3f}"
        picks = chosen[chosen["agent"] == row.agent].sort_values("budget")
        choice = ", ".join(f"{r.lr:g}/{r.batch_size}" for r in picks.itertuples())
        lines.append(
            f"| {row.agent} | {values} | {row.auc_mean:.3f} ± {row.auc_ci:.3f} | {diff} | {reach} | {savings} "
            f"| {choice} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="frozen")
    parser.add_argument("--tasks", default=None, help="comma-separated subset of the mode's tasks")
    parser.add_argument("--seeds", type=int, default=None, help="default: the mode's (5 frozen, 3 full)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/glue"))
    parser.add_argument("--report-only", action="store_true", help="summarize the finished runs, run nothing")
    parser.add_argument("--budgets", default=None, help="comma-separated label budgets instead of the mode's")
    parser.add_argument("--heads", default=None, help="comma-separated heads instead of the mode's")
    parser.add_argument("--agents", default=None, help="comma-separated head/priority subset of the mode's agents")
    parser.add_argument("--learning-rates", default=None, help="comma-separated learning rates instead of the mode's")
    parser.add_argument("--overrides", default="", help="extra Hydra overrides for every run, e.g. 'trainer=gpu'")
    args = parser.parse_args()
    mode = MODES[args.mode]
    if args.budgets:
        mode = dataclasses.replace(mode, budgets=tuple(int(b) for b in args.budgets.split(",")))
    if args.heads:
        mode = dataclasses.replace(mode, heads=tuple(args.heads.split(",")))
    if args.agents:
        mode = dataclasses.replace(mode, only_agents=tuple(args.agents.split(",")))
    if args.learning_rates:
        mode = dataclasses.replace(mode, learning_rates=tuple(float(lr) for lr in args.learning_rates.split(",")))
    tasks = args.tasks.split(",") if args.tasks else list(mode.tasks)
    unknown = [t for t in tasks if t not in mode.tasks]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r} for --mode {args.mode}; valid: {', '.join(mode.tasks)}")
    if "GLUE_DIR" not in os.environ:
        parser.error("set GLUE_DIR to the folder holding the GLUE task folders (SST-2/, CoLA/, ...)")
    seeds = args.seeds or mode.seeds

    from epinet_al.report import summarize, write_report

    root = args.out / args.mode
    extra = args.overrides.split() if args.overrides else []
    for name in tasks:
        spec = TASKS[name]
        task_root = root / name
        if not args.report_only:
            tuning = jobs_for(spec, mode, args.mode, task_root, grid(spec, mode), range(mode.tune_seeds), extra)
            run_jobs(tuning, args.workers, f"{task_root} (tuning grid, seeds 0-{mode.tune_seeds - 1})")
        finals = load_finals(spec, mode, task_root, seeds)
        if finals.empty:
            print(f"{name}: no finished runs")
            continue
        chosen = choose_configs(finals, spec, mode.tune_seeds)
        if not args.report_only and seeds > mode.tune_seeds:
            later = range(mode.tune_seeds, seeds)
            rest = jobs_for(spec, mode, args.mode, task_root, chosen_points(chosen), later, extra)
            run_jobs(rest, args.workers, f"{task_root} (chosen configs, seeds {mode.tune_seeds}-{seeds - 1})")
            finals = load_finals(spec, mode, task_root, seeds)
        # An agent compares only over the whole budget grid (an interrupted benchmark can leave one short).
        counts = chosen.groupby("agent")["budget"].nunique()
        for agent in counts[counts < len(budgets(spec, mode))].index:
            print(f"{name}: {agent} left out, not every budget has finished runs", flush=True)
        chosen = chosen[chosen["agent"].map(counts) == len(budgets(spec, mode))]
        finals.to_csv(task_root / "runs.csv", index=False)
        chosen.to_csv(task_root / "chosen.csv", index=False)
        runs = matched_label_runs(finals, chosen, spec)
        summary = summarize(runs, baseline=BASELINE if BASELINE in set(runs["agent"]) else None)
        report = write_report(summary, task_root / "report")
        table = summary.tasks[0].table.reset_index()
        table["curve"] = [
            runs[runs["agent"] == agent].groupby("num_labels")[spec.metric].mean().to_dict() for agent in table["agent"]
        ]
        text = markdown_table(table, chosen, spec.metric, budgets(spec, mode))
        (task_root / "table.md").write_text(text + "\n")
        seeds_done = finals.merge(chosen[["agent", "budget", "lr", "batch_size"]])["seed"].nunique()
        print(f"\n### {name} ({args.mode}, {seeds_done} seeds)\n\n{text}\n\nreport: {report}\n", flush=True)


if __name__ == "__main__":
    main()
