"""Benchmark: the paper's protocol on the testbed (Osband et al. 2022, the synthetic "neural testbed").

The paper's regime: a pool of 200 training inputs, 1,000 test inputs, 10 problems per setting; agents run
the prioritized loop with no label cap (labels used = distinct examples revealed: an anytime curve), and
the baseline without prioritization is trained on fixed random subsets of fractions psi of the pool
(``budget=subset``), its hyperparameters chosen per fraction. Every agent is tuned alike, on problems kept
apart from the reported ones:

- baseline: per fraction psi, the best (head.l2_scale, learning rate) of ``BASELINE_GRID`` by mean test
  log-loss on the tuning problems (seeds 100+); the reported curve of each problem takes, at each psi,
  the run with that configuration (assembled into ``<out>/<setting>/report_runs/``);
- prioritized agents: the same grid, one configuration per agent chosen by its mean test log-loss over
  its curve's evaluation points on the tuning problems.

The tuning problems run first (every configuration); the reported problems then run the chosen ones.

Then the comparison report (``epinet_al.report``, the baseline = the tuned subsets) gives, per agent,
the savings read-off at every baseline point, up to the full-data baseline's log-loss.

    python benchmarks/paper.py [--settings D2_rho0.1,D10_rho0.1,D2_rho0.5] [--seeds 10] [--tune-seeds 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
from pathlib import Path

import pandas as pd
from runs import run_jobs

SETTINGS = {"D2_rho0.1": (2, 0.1), "D10_rho0.1": (10, 0.1), "D2_rho0.5": (2, 0.5)}
POOL, TEST = 200, 1000
FRACTIONS = [0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]
# The grid every agent is tuned on: the L2 scale around the reference recipe (Adam lr 1e-3, as the reference).
BASELINE_GRID = [(l2, 1e-3) for l2 in (0.3, 1.0, 3.0)]
# margin ranks as entropy does on the testbed's two classes, so entropy stands for both.
AGENTS = [("epinet", "variance"), ("epinet", "bald"), ("epinet", "entropy"), ("mlp", "entropy"),
          ("ensemble", "variance"), ("dropout", "variance")]  # fmt: skip
# The prioritized loop: 20 candidates, the top 4 labeled and trained on per step, 1,000 steps (the pool of
# 200 is used up long before: labels used then stays at 200 and training goes on over all of it).
EVAL_LABELS = ",".join(str(round(f * POOL)) for f in FRACTIONS)
LOOP = ["budget=prioritized", "budget.max_labels=0", "budget.candidate_batch_size=20", "budget.batch_size=4",
        "budget.max_steps=1000", f"budget.eval_labels=[{EVAL_LABELS}]"]  # fmt: skip
TUNE_SEED0 = 100
METRIC = "test/nll"


def common(setting: str) -> list[str]:
    dim, rho = SETTINGS[setting]
    return [f"task.input_dim={dim}", f"task.temperature={rho}", f"task.pool_size={POOL}", f"task.test_size={TEST}",
            "trainer.num_threads=1", "progress_bar=false", f"sweep=bench-paper-{setting}"]  # fmt: skip


def grid_name(l2: float, lr: float) -> str:
    return f"l2_{l2}_lr_{lr}"


def baseline_job(setting: str, root: Path, l2: float, lr: float, seed: int) -> tuple[list[str], str]:
    subset = ["budget=subset", f"budget.fractions=[{','.join(map(str, FRACTIONS))}]"]
    overrides = [*common(setting), *subset, "head=mlp", "acquisition=uniform", f"head.l2_scale={l2}",
                 f"trainer.optimizer.lr={lr}", f"seed={seed}"]  # fmt: skip
    return overrides, str(root / "subset" / grid_name(l2, lr) / f"seed{seed}")


def agent_job(setting: str, root: Path, agent: str, l2: float, lr: float, seed: int) -> tuple[list[str], str]:
    head, priority = agent.split("-")
    overrides = [*common(setting), *LOOP, f"head={head}", f"acquisition={priority}", f"head.l2_scale={l2}",
                 f"trainer.optimizer.lr={lr}", f"seed={seed}"]  # fmt: skip
    return overrides, str(root / agent / grid_name(l2, lr) / f"seed{seed}")


def tuning_jobs(setting: str, root: Path, seeds: list[int]) -> list[tuple[list[str], str]]:
    """Every configuration of the grid, for the baseline and every agent, on the tuning problems."""
    jobs = [baseline_job(setting, root, l2, lr, seed) for (l2, lr), seed in itertools.product(BASELINE_GRID, seeds)]
    for (head, priority), (l2, lr), seed in itertools.product(AGENTS, BASELINE_GRID, seeds):
        jobs.append(agent_job(setting, root, f"{head}-{priority}", l2, lr, seed))
    return jobs


def reported_jobs(setting: str, root: Path, seeds: list[int], choices) -> list[tuple[list[str], str]]:
    """The chosen configurations on the reported problems."""
    per_size, per_agent = choices
    parse = {grid_name(l2, lr): (l2, lr) for l2, lr in BASELINE_GRID}
    jobs = [baseline_job(setting, root, *parse[cfg], seed) for cfg in set(per_size.values()) for seed in seeds]
    jobs += [agent_job(setting, root, agent, *parse[cfg], seed) for agent, cfg in per_agent.items() for seed in seeds]
    return jobs


def curves(root: Path) -> pd.DataFrame:
    frames = []
    for path in root.glob("*/*/seed*/curve.csv"):
        agent, config, seed = path.parent.relative_to(root).parts
        frame = pd.read_csv(path)
        frame["agent"], frame["config"], frame["seed"], frame["folder"] = agent, config, int(seed[4:]), str(path.parent)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def choose(data: pd.DataFrame) -> tuple[dict[int, str], dict[str, str]]:
    """Configurations chosen on the tuning problems: per subset size for the baseline, per agent otherwise."""
    tune = data[data["seed"] >= TUNE_SEED0]
    base = tune[tune["agent"] == "subset"].groupby(["num_labels", "config"])[METRIC].mean()
    per_size = {int(n): base.loc[n].idxmin() for n in base.index.get_level_values(0).unique()}
    agents = tune[tune["agent"] != "subset"].groupby(["agent", "config", "seed"])[METRIC].mean()  # curve mean
    per_agent = {a: agents.loc[a].groupby("config").mean().idxmin() for a in agents.index.get_level_values(0).unique()}
    return per_size, per_agent


def assemble(root: Path, data: pd.DataFrame, seeds: list[int]) -> Path:
    """The reported runs in one folder for the report: the tuned baseline's assembled curves, the agents' runs."""
    out = root / "report_runs"
    shutil.rmtree(out, ignore_errors=True)
    per_size, per_agent = choose(data)
    for seed in seeds:
        rows = [data[(data["agent"] == "subset") & (data["config"] == cfg) & (data["seed"] == seed)
                     & (data["num_labels"] == n)] for n, cfg in sorted(per_size.items())]  # fmt: skip
        curve = pd.concat(rows, ignore_index=True)
        folder = out / "baseline" / f"seed{seed}"
        folder.mkdir(parents=True)
        curve.drop(columns=["agent", "config", "seed", "folder"]).to_csv(folder / "curve.csv", index=False)
        summary = json.loads((Path(rows[-1]["folder"].iat[0]) / "summary.json").read_text())
        summary["config"]["budget"] = {"protocol": "subset", "tuned": "per fraction on the tuning problems"}
        summary["config"]["head"]["l2_scale"] = summary["config"]["trainer"]["optimizer"]["lr"] = "tuned"
        (folder / "summary.json").write_text(json.dumps(summary))
        for agent, cfg in per_agent.items():
            source = root / agent / cfg / f"seed{seed}"
            if (source / "summary.json").exists():
                summary = json.loads((source / "summary.json").read_text())
                summary["config"]["head"]["l2_scale"] = summary["config"]["trainer"]["optimizer"]["lr"] = "tuned"
                target = out / agent / f"seed{seed}"
                target.mkdir(parents=True)
                shutil.copy(source / "curve.csv", target / "curve.csv")
                (target / "summary.json").write_text(json.dumps(summary))
    (out / "choices.json").write_text(json.dumps({"baseline_per_labels": per_size, "agents": per_agent}, indent=2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tune-seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/paper"))
    args = parser.parse_args()
    from epinet_al.report import load_sweep, summarize, write_report

    seeds = list(range(args.seeds))
    tune_seeds = list(range(TUNE_SEED0, TUNE_SEED0 + args.tune_seeds))
    for setting in args.settings.split(","):
        root = args.out / setting
        run_jobs(tuning_jobs(setting, root, tune_seeds), args.workers, f"{root} (tuning)")
        run_jobs(reported_jobs(setting, root, seeds, choose(curves(root))), args.workers, f"{root} (reported)")
        runs = assemble(root, curves(root), seeds)
        sweep = load_sweep(runs)
        baseline = next(a for a in sweep.runs["agent"].unique() if "subset" in a)
        report = write_report(summarize(sweep.runs, baseline=baseline), root / "report")
        print(f"{setting}: {report}", flush=True)


if __name__ == "__main__":
    main()
