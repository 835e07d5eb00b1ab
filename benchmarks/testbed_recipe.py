"""Benchmark: does the training recipe give calibrated heads and an epistemic epinet? (the testbed)

Every head (mlp, epinet = the testbed agent, dropout, ensemble) is fitted on fixed random subsets of
N in {10, 30, 100} labels of a 200-example pool (``budget=subset``; nested subsets of one seeded
permutation), on 10 testbed problems (seeds 0-9; problems apart from any tuning) per setting, under two
recipes:

- ``reference``: the project's defaults, the reference recipe of google-deepmind/neural_testbed: the
  L2 term s(N) * sum(theta^2) with each head's formula, 1,000 AdamW(1e-3) steps of batch 100;
- ``previous``: the recipe before it: Adam(1e-3) with coupled weight decay 0.01 for every head and N,
  300 steps of batch 32, no L2 term.

Reported per setting, head and N: the marginal test log-loss, the joint log-loss per input (dyadic
batches of tau = 10, divided by tau) and accuracy, mean and 95% t-interval over problems; and paired
differences of the epinet's joint log-loss against the mlp and ensemble heads.

    python benchmarks/testbed_recipe.py [--seeds 10] [--workers 2] [--recipes reference,previous]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from runs import run_jobs
from scipy import stats

SETTINGS = [(10, 0.1), (2, 0.1)]
HEADS = ["mlp", "epinet", "dropout", "ensemble"]
SIZES = [10, 30, 100]
TAU = 10
RECIPES = {
    "reference": [],
    "previous": [
        "head.l2_scale=0",
        "trainer.optimizer._target_=torch.optim.Adam",
        "trainer.optimizer.weight_decay=0.01",
        "budget.train_steps=300",
        "budget.batch_size=32",
    ],
}
COMMON = [
    "budget=subset",
    f"budget.sizes=[{','.join(map(str, SIZES))}]",
    "acquisition=uniform",
    "task.pool_size=200",
    "task.test_size=1000",
    "trainer.num_threads=1",
    "progress_bar=false",
]


def interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95% t-interval half-width over the first axis."""
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


def load(root: Path) -> pd.DataFrame:
    rows = []
    for curve in root.glob("*/*/*/*/seed*/curve.csv"):
        recipe, setting, head, _, seed = curve.parent.relative_to(root).parts
        frame = pd.read_csv(curve)
        frame["recipe"], frame["setting"], frame["head"], frame["seed"] = recipe, setting, head, int(seed[4:])
        rows.append(frame)
    data = pd.concat(rows, ignore_index=True)
    data["joint_per_input"] = data["test/joint_nll"] / TAU
    return data


def tables(data: pd.DataFrame) -> str:
    out = []
    for (recipe, setting), part in data.groupby(["recipe", "setting"], sort=False):
        seeds = part["seed"].nunique()
        out += [
            f"\n#### {setting}, {recipe} recipe ({seeds} problems; mean ± 95% CI)\n",
            "| head | " + " | ".join(f"N={n} nll / joint / acc" for n in SIZES) + " |",
            "|---|" + "--:|" * len(SIZES),
        ]
        for head in HEADS:
            cells = []
            for n in SIZES:
                point = part[(part["head"] == head) & (part["num_labels"] == n)]
                if point.empty:
                    cells.append("—")
                    continue
                (nll, nll_ci), (joint, joint_ci) = interval(point["test/nll"]), interval(point["joint_per_input"])
                cells.append(f"{nll:.3f}±{nll_ci:.3f} / {joint:.3f}±{joint_ci:.3f} / {point['test/acc'].mean():.3f}")
            out.append(f"| {head} | " + " | ".join(cells) + " |")
        out.append("\nPaired joint log-loss per input, epinet minus other head (negative: epinet better):\n")
        out.append("| vs | " + " | ".join(f"N={n}" for n in SIZES) + " |")
        out.append("|---|" + "--:|" * len(SIZES))
        for other in ("mlp", "ensemble", "dropout"):
            cells = []
            for n in SIZES:
                at = part[part["num_labels"] == n].pivot_table(index="seed", columns="head", values="joint_per_input")
                if {"epinet", other} <= set(at.columns):
                    mean, half = interval((at["epinet"] - at[other]).dropna())
                    cells.append(f"{mean:+.3f} ± {half:.3f}")
                else:
                    cells.append("—")
            out.append(f"| {other} | " + " | ".join(cells) + " |")
        spread = part[part["num_labels"] == 100].groupby("head")["test/nll"].mean()
        worst = part.groupby(["head", "num_labels"])["test/nll"].mean().max()
        out.append(
            f"\nAt N=100 the heads' mean marginal log-loss spans {spread.max() - spread.min():.3f} "
            f"({spread.idxmin()} {spread.min():.3f} to {spread.idxmax()} {spread.max():.3f}); "
            f"the largest mean at any N is {worst:.3f} (log 2 = {np.log(2):.3f})."
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/testbed_recipe"))
    args = parser.parse_args()
    jobs = []
    for recipe in args.recipes.split(","):
        for (dim, rho), head, seed in itertools.product(SETTINGS, HEADS, range(args.seeds)):
            out_dir = args.out / recipe / f"D{dim}_rho{rho}" / head / "uniform" / f"seed{seed}"
            overrides = [*COMMON, *RECIPES[recipe], f"task.input_dim={dim}", f"task.temperature={rho}"]
            jobs.append(([*overrides, f"head={head}", f"seed={seed}", "sweep=bench-recipe"], str(out_dir)))
    run_jobs(jobs, args.workers, str(args.out))
    print(tables(load(args.out)))


if __name__ == "__main__":
    main()
