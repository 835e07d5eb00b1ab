"""Benchmark: the paper's protocol (Osband et al. 2022) on the neural testbed and on GLUE (frozen MiniLM).

The paper's regime: agents run the prioritized loop with no label cap (labels used = distinct examples
revealed: an anytime curve), and the baseline without prioritization is trained on fixed random subsets of
fractions psi of the pool (``budget=subset``), its hyperparameters chosen per fraction. Every agent is tuned
alike, on runs kept apart from the reported ones (seeds 100+):

- baseline: per fraction psi, the best (head.l2_scale, learning rate) of the setting's grid by its selection
  metric on the tuning runs; the reported curve of each seed takes, at each psi, the run with that
  configuration (assembled into ``<out>/<setting>/report_runs/``);
- prioritized agents: the setting's grid, one configuration per agent chosen by the selection metric's mean
  over its curve's evaluation points on the tuning runs.

Settings: the testbed (``D2_rho0.1``, ``D10_rho0.1``, ``D2_rho0.5``: 200 pool inputs, 1,000 test inputs,
tuning on separate problems by test log-loss) and ``sst2`` (the whole train split minus a tune split is the
pool, dev the test set; tuning by the tune split's accuracy, never dev) and ``mnli`` (the same on MNLI's pair
features: matched dev minus a tune split is the pool, mismatched dev the test set), ``cola``, ``stsb``, ``rte``
and ``qnli`` (MNLI's setting on those tasks, each loop sized to its pool), and ``sst2_bert`` (SST-2
with BERT-base fine-tuned, for a GPU machine); ``<setting>_labeled`` (testbed D=2 and D=10, STS-B, QNLI, MNLI;
``D10_rho0.1_labeled_long``) is a setting with its agents trained on batches of every label so far
(``budget.train_on=labeled``, ``trained_on_every_label``), sharing the plain setting's baseline runs. The
tuning runs go first (every configuration); the reported seeds then run the chosen ones. Then the comparison report
(``epinet_al.report``, the baseline = the tuned subsets) gives, per agent, the savings read-off at every
baseline point, up to the full-data baseline's metric. The GLUE settings read GLUE_DIR.

    python benchmarks/paper.py [--settings D2_rho0.1,D10_rho0.1,D2_rho0.5,sst2,mnli,cola,...] [--seeds N]
    python benchmarks/paper.py --settings sst2_bert --workers 1    # on a GPU machine
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from runs import run_jobs


@dataclass(frozen=True)
class Setting:
    """One benchmark setting: the task, its fraction grid, the grids tuned over, the agents and their loop."""

    task: list[str]  # overrides naming the task and model
    pool: int  # examples in the pool (after the tune split): the fractions' sizes
    fractions: list[float]
    subset: list[str]  # overrides of the baseline's budget=subset besides the fractions
    loop: list[str]  # the prioritized loop's overrides besides the label-count evaluation points
    # (head.l2_scale, learning rate); an L2 scale of None keeps each head's default (conf/model_head).
    baseline_grid: list[tuple[float | None, float]]
    agent_grid: list[tuple[float | None, float]]
    agents: list[tuple[str, str]]
    # The configuration is chosen on the tuning runs (seeds TUNE_SEED0+) by this metric.
    select: str
    select_mode: str  # "min" or "max"
    seeds: int  # reported seeds (0, 1, ...)
    tune_seeds: int  # tuning seeds (TUNE_SEED0, ...)
    # The learning rate the grid sets: the head's optimizer's (frozen features) or the encoder's (fine-tuned).
    lr_key: str = "trainer.optimizer.lr"
    gpu: bool = False  # run only when named in --settings (the default runs the CPU settings)
    # The setting whose baseline runs this one shares (the same task, baseline grid and seeds): only the
    # agents' loop differs, so the baseline is run (and its runs are read) once, under that setting's folder.
    baseline_from: str = ""


def testbed(dim: int, rho: float) -> Setting:
    """The paper's testbed: 200 pool inputs, 1,000 test; the tuning problems are separate problems (seeds 100+)."""
    pool = 200
    # The grid every agent is tuned on: the L2 scale around the reference recipe (Adam lr 1e-3, as the reference).
    grid = [(l2, 1e-3) for l2 in (0.3, 1.0, 3.0)]
    return Setting(
        task=["task=testbed", f"task.input_dim={dim}", f"task.temperature={rho}", f"task.pool_size={pool}",
              "task.test_size=1000"],
        pool=pool,
        fractions=[0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0],
        subset=[],  # the recipe: 1,000 steps of batch 100
        # 20 candidates, the top 4 labeled and trained on per step, 1,000 steps (the pool of 200 is used up
        # long before: labels used then stays at 200 and training goes on over all of it).
        loop=["budget.candidate_batch_size=20", "budget.batch_size=4", "budget.max_steps=1000"],
        baseline_grid=grid,
        agent_grid=grid,
        # margin ranks as entropy does on two classes, so entropy stands for both.
        agents=[("epinet", "variance"), ("epinet", "bald"), ("epinet", "entropy"), ("mlp", "entropy"),
                ("ensemble", "variance"), ("dropout", "variance")],
        select="test/nll",  # on the tuning problems, never on the reported ones
        select_mode="min",
        seeds=10,
        tune_seeds=3,
    )  # fmt: skip


# SST-2 with frozen MiniLM: the whole train split (67,349 sentences) minus a tune split of SST2_TUNE is the
# pool, dev (872) the test set; every choice reads the tune split (tune/acc) of the tuning run (seed 100).
SST2_TUNE = 2000
SST2 = Setting(
    task=["task=sst2", "model=minilm", f"task.tune_size={SST2_TUNE}"],
    pool=67349 - SST2_TUNE,
    fractions=[0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0],
    # 1,000 AdamW steps of batch 100 per subset: 1.5 passes over the full pool (the loop makes about one),
    # many more over the small subsets (the L2 scale, tuned per fraction, keeps them from overfitting).
    subset=["budget.train_steps=1000"],
    # The paper's loop on the pool: 640 candidates, the top 64 labeled and trained on per step, 1,100 steps
    # (70,400 selections, about one pass of the pool's size); scores from 30 index samples (the epinet's
    # index dimension; 100 made scoring 80% of a step's cost). Evaluated every 100 steps as well.
    loop=["budget.candidate_batch_size=640", "budget.batch_size=64", "budget.max_steps=1100",
          "budget.eval_every=100", "acquisition.num_index_samples=30"],
    # The reference L2 scale (1) flattens the plain head on 384-d features; lr 3e-4 for the large subsets.
    baseline_grid=[(l2, lr) for l2 in (0.001, 0.01, 0.1) for lr in (1e-3, 3e-4)],
    # One pass at lr 1e-3 (the loop sees each example about once): the L2 scale is what is tuned.
    agent_grid=[(l2, 1e-3) for l2 in (0.001, 0.01, 0.1)],
    # margin ranks as entropy does on SST-2's two classes, so entropy stands for both.
    agents=[("epinet", "variance"), ("epinet", "bald"), ("epinet", "entropy"), ("mlp", "entropy"),
            ("ensemble", "variance"), ("dropout", "variance")],
    select="tune/acc",
    select_mode="max",
    seeds=5,
    tune_seeds=1,  # the tune split of 2,000 sentences does the choosing; a second seed would double the tuning
)  # fmt: skip

# MNLI with frozen MiniLM pair features ([u, v, |u - v|, u * v]): the matched dev split (9,815 pairs; the train
# split is not in ../shared/data/glue) minus a tune split of MNLI_TUNE is the pool, mismatched dev the test set.
# The paper's MNLI claim is about the epistemic heads (epinet > ensemble > dropout with variance), so those run,
# with the plain head + entropy as the heuristic; the rest is SST-2's setting scaled to the smaller pool.
MNLI_TUNE = 1000
MNLI = Setting(
    task=["task=mnli", "model=minilm", f"task.tune_size={MNLI_TUNE}", "task.pool_split=supplementary_dev_matched",
          "task.eval_splits=[supplementary_dev_mismatched]"],
    pool=9815 - MNLI_TUNE,
    fractions=SST2.fractions,
    subset=SST2.subset,
    # 640 candidates, the top 64, 300 steps: 19,200 selections, about two passes of the pool's size.
    loop=["budget.candidate_batch_size=640", "budget.batch_size=64", "budget.max_steps=300",
          "budget.eval_every=25", "acquisition.num_index_samples=30"],
    # SST-2's grids without L2 0.1, which no SST-2 agent chose (one session's CPU).
    baseline_grid=[(l2, lr) for l2 in (0.001, 0.01) for lr in (1e-3, 3e-4)],
    agent_grid=[(l2, 1e-3) for l2 in (0.001, 0.01)],
    agents=[("epinet", "variance"), ("mlp", "entropy"), ("ensemble", "variance"), ("dropout", "variance")],
    select="tune/acc",
    select_mode="max",
    seeds=3,
    tune_seeds=1,
)  # fmt: skip


def frozen_glue(
    task: list[str],
    pool: int,
    loop: tuple[int, int, int, int],
    select: str,
    agents: list[tuple[str, str]] = MNLI.agents,
) -> Setting:
    """MNLI's setting on another GLUE task (pair tasks read the pair features, as MNLI): its grids, agents and
    fractions, 5 seeds (the issue's; a task's runs take minutes); ``loop`` = (candidates, top n, steps,
    eval_every), about two passes of the pool's size."""
    candidates, top, steps, every = loop
    return replace(
        MNLI,
        task=["model=minilm", *task],
        pool=pool,
        loop=[f"budget.candidate_batch_size={candidates}", f"budget.batch_size={top}", f"budget.max_steps={steps}",
              f"budget.eval_every={every}", "acquisition.num_index_samples=30"],
        agents=agents,
        select=select,
        seeds=5,
    )  # fmt: skip


# CoLA, STS-B, RTE: the train split minus a tune split is the pool, dev the test set; QNLI: only 320 train rows are
# in ../shared/data/glue, so dev minus a tune split is the pool and those 320 rows the test set (reported as train/).
# Each is chosen by its task's primary metric on the tune split. STS-B is a regression (one score): its heads
# support only uniform and variance, so the plain head + entropy does not run there.
COLA = frozen_glue(["task=cola", "task.tune_size=1000"], 8551 - 1000, (640, 64, 240, 20), "tune/matthews")
STSB = frozen_glue(["task=stsb", "task.tune_size=1000"], 5749 - 1000, (640, 64, 150, 15), "tune/pearson",
                   agents=[agent for agent in MNLI.agents if agent[1] == "variance"])  # fmt: skip
# RTE's pool (1,990) is a fifth of the others: 160 candidates, the top 16.
RTE = frozen_glue(["task=rte", "task.tune_size=500"], 2490 - 500, (160, 16, 250, 25), "tune/acc")
QNLI = frozen_glue(["task=qnli", "task.tune_size=1000", "task.pool_split=dev", "task.eval_splits=[train]"],
                   5463 - 1000, (640, 64, 150, 15), "tune/acc")  # fmt: skip

# SST-2 with BERT-base fine-tuned end to end, the paper's main setting, for a GPU machine (never run on the
# development CPU): SST-2's pool, tune split, fractions, agents and loop; inputs cut to 64 tokens; the encoder's
# learning rate tuned on the paper's grid, each head's L2 scale left at BERT-base's default (conf/model_head);
# the baseline trains 3 epochs of batch 32 per subset. bert-base-uncased comes from the hub or HF_HOME's cache.
SST2_BERT = Setting(
    task=["task=sst2", "model=bert_base", "trainer=gpu", "task.max_length=64", f"task.tune_size={SST2_TUNE}"],
    pool=SST2.pool,
    fractions=SST2.fractions,
    subset=["budget.train_steps=0", "budget.epochs=3", "budget.batch_size=32"],
    loop=SST2.loop,
    baseline_grid=[(None, lr) for lr in (1e-5, 3e-5, 1e-4)],
    agent_grid=[(None, lr) for lr in (1e-5, 3e-5, 1e-4)],
    agents=SST2.agents,
    select="tune/acc",
    select_mode="max",
    seeds=3,
    tune_seeds=1,
    lr_key="model.lr",
    gpu=True,
)

SETTINGS = {
    "D2_rho0.1": testbed(2, 0.1),
    "D10_rho0.1": testbed(10, 0.1),
    "D2_rho0.5": testbed(2, 0.5),
    "sst2": SST2,
    "mnli": MNLI,
    "cola": COLA,
    "stsb": STSB,
    "rte": RTE,
    "qnli": QNLI,
    "sst2_bert": SST2_BERT,
}


def trained_on_every_label(name: str, steps: int, steps_per_draw: int, train_batch_size: int) -> Setting:
    """Setting ``name`` with its agents trained as the reference's testbed experiment trains
    (``budget.train_on=labeled``): per step the top n join the labeled set, then ``steps_per_draw`` updates,
    each on ``train_batch_size`` examples drawn from every label so far; ``steps`` steps.

    The paper's loop trains one step on the top n only: at L labels a model has had L/n updates of n
    examples, against the baseline's whole fit at every subset size, which confounds labels with training.
    Only the agents' loop differs, so the baseline runs are ``name``'s.
    """
    base = SETTINGS[name]
    loop = [override for override in base.loop if not override.startswith("budget.max_steps=")]
    loop += [f"budget.max_steps={steps}", "budget.train_on=labeled", f"budget.steps_per_draw={steps_per_draw}",
             f"budget.train_batch_size={train_batch_size}"]  # fmt: skip
    return replace(base, loop=loop, baseline_from=name)


# The testbed with every label trained on: 75 steps of 20 updates of batch 100 = 1,500 updates of 100 (a subset
# fit: 1,000), where the paper's loop made 1,000 updates of 4.
SETTINGS |= {
    f"{name}_labeled": trained_on_every_label(name, steps=75, steps_per_draw=20, train_batch_size=100)
    for name in ("D2_rho0.1", "D10_rho0.1")
}
# D=10 run long enough for the labels to reach most of the pool: 300 steps of 10 updates (3,000 of 100).
SETTINGS["D10_rho0.1_labeled_long"] = trained_on_every_label("D10_rho0.1", steps=300, steps_per_draw=10,
                                                             train_batch_size=100)  # fmt: skip
# GLUE with every label trained on: the plain setting's steps, each with updates of batch 100 from every label so
# far, 1,200 in all (a subset fit: 1,000 of 100), where the paper's loop made one update of 64 per step.
SETTINGS |= {
    f"{name}_labeled": trained_on_every_label(name, steps=steps, steps_per_draw=1200 // steps, train_batch_size=100)
    for name, steps in (("stsb", 150), ("qnli", 150), ("mnli", 300))
}
TUNE_SEED0 = 100


def common(name: str) -> list[str]:
    return [*SETTINGS[name].task, "trainer.num_threads=1", "progress_bar=false", f"sweep=bench-paper-{name}"]


def grid_name(l2: float | None, lr: float) -> str:
    return f"l2_{'default' if l2 is None else l2}_lr_{lr}"


def hyperparameters(setting: Setting, l2: float | None, lr: float) -> list[str]:
    return [*([] if l2 is None else [f"head.l2_scale={l2}"]), f"{setting.lr_key}={lr}"]


def size(setting: Setting, fraction: float) -> int:
    return max(1, round(fraction * setting.pool))


def baseline_root(root: Path, setting: Setting) -> Path:
    """Where the setting's baseline runs live: under its own folder, or the one of the setting it shares them with."""
    return root.parent / setting.baseline_from if setting.baseline_from else root


def baseline_job(
    name: str, root: Path, l2: float, lr: float, seed: int, fractions: list[float] | None = None
) -> tuple[list[str], str]:
    """The fixed-subset baseline at ``fractions`` (default: all of the setting's) with one configuration."""
    setting = SETTINGS[name]
    fractions = fractions or setting.fractions
    root = baseline_root(root, setting)
    subset = ["budget=subset", f"budget.fractions=[{','.join(map(str, fractions))}]", *setting.subset]
    overrides = [*common(name), *subset, "head=mlp", "acquisition=uniform", *hyperparameters(setting, l2, lr),
                 f"seed={seed}"]  # fmt: skip
    return overrides, str(root / "subset" / grid_name(l2, lr) / f"seed{seed}")


def agent_job(name: str, root: Path, agent: str, l2: float, lr: float, seed: int) -> tuple[list[str], str]:
    setting = SETTINGS[name]
    head, priority = agent.split("-")
    eval_labels = ",".join(str(size(setting, f)) for f in setting.fractions)
    loop = ["budget=prioritized", "budget.max_labels=0", *setting.loop, f"budget.eval_labels=[{eval_labels}]"]
    overrides = [*common(name), *loop, f"head={head}", f"acquisition={priority}", *hyperparameters(setting, l2, lr),
                 f"seed={seed}"]  # fmt: skip
    return overrides, str(root / agent / grid_name(l2, lr) / f"seed{seed}")


def tuning_jobs(name: str, root: Path, seeds: list[int]) -> list[tuple[list[str], str]]:
    """Every configuration of the grid, for the baseline and every agent, on the tuning seeds."""
    setting = SETTINGS[name]
    jobs = [baseline_job(name, root, *cfg, seed) for cfg, seed in itertools.product(setting.baseline_grid, seeds)]
    for (head, priority), cfg, seed in itertools.product(setting.agents, setting.agent_grid, seeds):
        jobs.append(agent_job(name, root, f"{head}-{priority}", *cfg, seed))
    return jobs


def reported_jobs(name: str, root: Path, seeds: list[int], choices) -> list[tuple[list[str], str]]:
    """The chosen configurations on the reported seeds; a baseline configuration only at the fractions it won."""
    per_size, per_agent = choices
    setting = SETTINGS[name]
    parse = {grid_name(*cfg): cfg for cfg in [*setting.baseline_grid, *setting.agent_grid]}
    won = {cfg: [f for f in setting.fractions if per_size[size(setting, f)] == cfg] for cfg in set(per_size.values())}
    jobs = [baseline_job(name, root, *parse[cfg], seed, won[cfg]) for cfg in sorted(won) for seed in seeds]
    jobs += [agent_job(name, root, agent, *parse[cfg], seed) for agent, cfg in per_agent.items() for seed in seeds]
    return jobs


def curves(root: Path, setting: Setting) -> pd.DataFrame:
    """Every finished run's curve under ``root`` (the baseline's under the setting it shares them with)."""
    frames = []
    agents = [path for path in root.glob("*/*/seed*/curve.csv") if path.parts[-4] not in ("subset", "report_runs")]
    for path in [*baseline_root(root, setting).glob("subset/*/seed*/curve.csv"), *agents]:
        agent, config, seed = path.parts[-4:-1]
        frame = pd.read_csv(path)
        frame["agent"], frame["config"], frame["seed"], frame["folder"] = agent, config, int(seed[4:]), str(path.parent)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def choose(data: pd.DataFrame, setting: Setting) -> tuple[dict[int, str], dict[str, str]]:
    """Configurations chosen on the tuning seeds: per subset size for the baseline, per agent otherwise."""
    tune = data[data["seed"] >= TUNE_SEED0]
    best = "idxmin" if setting.select_mode == "min" else "idxmax"
    base = tune[tune["agent"] == "subset"].groupby(["num_labels", "config"])[setting.select].mean()
    per_size = {int(n): getattr(base.loc[n], best)() for n in base.index.get_level_values(0).unique()}
    agents = tune[tune["agent"] != "subset"].groupby(["agent", "config", "seed"])[setting.select].mean()  # curve mean
    per_agent = {
        a: getattr(agents.loc[a].groupby("config").mean(), best)() for a in agents.index.get_level_values(0).unique()
    }
    return per_size, per_agent


# Config keys added to the framework after some of a setting's runs were made, with the default that does
# what the older code did (a single process; one SGD step on the selected batch): a run without the key
# gets it, so that the report does not split one agent into "unset" and default by the code's age.
ADDED_KEYS = {
    "trainer": {"strategy": "auto", "num_nodes": 1},
    "budget": {"train_on": "selected", "steps_per_draw": 1, "train_batch_size": 0},
}


def reported_summary(folder: Path) -> dict:
    """A run's summary.json as the report reads it: the tuned values marked as such, added keys filled in."""
    summary = json.loads((folder / "summary.json").read_text())
    # Runs made before summary.json recorded the data files' fingerprints are known by task.data_dir alone: the
    # report would take the two ages for different data. One setting reads one GLUE_DIR, so the folder decides.
    summary.pop("data", None)
    config = summary["config"]
    config["head"]["l2_scale"] = config["trainer"]["optimizer"]["lr"] = "tuned"
    for group, keys in ADDED_KEYS.items():
        if group == "budget" and config["budget"].get("protocol") != "prioritized":
            continue
        for key, default in keys.items():
            config[group].setdefault(key, default)
    return summary


def assemble(root: Path, data: pd.DataFrame, seeds: list[int], setting: Setting) -> Path:
    """The reported runs in one folder for the report: the tuned baseline's assembled curves, the agents' runs."""
    out = root / "report_runs"
    shutil.rmtree(out, ignore_errors=True)
    per_size, per_agent = choose(data, setting)
    for seed in seeds:
        rows = [data[(data["agent"] == "subset") & (data["config"] == cfg) & (data["seed"] == seed)
                     & (data["num_labels"] == n)] for n, cfg in sorted(per_size.items())]  # fmt: skip
        curve = pd.concat(rows, ignore_index=True)
        folder = out / "baseline" / f"seed{seed}"
        folder.mkdir(parents=True)
        curve.drop(columns=["agent", "config", "seed", "folder"]).to_csv(folder / "curve.csv", index=False)
        summary = reported_summary(Path(rows[-1]["folder"].iat[0]))
        summary["config"]["budget"] = {
            "protocol": "subset",
            "tuned": f"per fraction on the tuning runs ({setting.select})",
        }
        (folder / "summary.json").write_text(json.dumps(summary))
        for agent, cfg in per_agent.items():
            source = root / agent / cfg / f"seed{seed}"
            if (source / "summary.json").exists():
                summary = reported_summary(source)
                target = out / agent / f"seed{seed}"
                target.mkdir(parents=True)
                shutil.copy(source / "curve.csv", target / "curve.csv")
                (target / "summary.json").write_text(json.dumps(summary))
    (out / "choices.json").write_text(json.dumps({"baseline_per_labels": per_size, "agents": per_agent}, indent=2))
    return out


def diagnostics(runs: Path) -> pd.DataFrame:
    """Whether an agent's uncertainty is epistemic, from its curves (the recipe's diagnostics, held-out split):
    the spread over the index at the first and last evaluation (does it shrink with labels?), its
    variation across inputs (CV) and the rank correlation of ``variance`` with ``entropy``; means over seeds."""
    rows = []
    for path in sorted(runs.glob("*/seed*/curve.csv")):
        curve = pd.read_csv(path)
        # The held-out split: test (testbed), val (SST-2, ...), val_mismatched (MNLI), train (QNLI); never tune.
        split = next((c.split("/")[0] for c in curve.columns if c.endswith("/spread") and c != "tune/spread"), None)
        if split is None or path.parent.parent.name == "baseline":
            continue
        first, last = curve.iloc[0], curve.iloc[-1]
        row = {"agent": path.parent.parent.name, "labels first": first["num_labels"], "labels last": last["num_labels"]}
        for column in ("spread", "spread_cv", "spearman_var_ent"):  # no entropy on a regression (STS-B): nan
            key = f"{split}/{column}"
            row[f"{column} first"], row[f"{column} last"] = first.get(key, float("nan")), last.get(key, float("nan"))
        rows.append(row)
    return pd.DataFrame(rows).groupby("agent").mean().round(3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cpu_settings = ",".join(name for name, setting in SETTINGS.items() if not setting.gpu)
    parser.add_argument("--settings", default=cpu_settings, help=f"comma-separated, of {', '.join(SETTINGS)}")
    parser.add_argument("--seeds", type=int, help="reported seeds (default: the setting's, 3 to 10)")
    parser.add_argument("--tune-seeds", type=int, help="tuning seeds (default: the setting's, 3 testbed / 1 GLUE)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/paper"))
    args = parser.parse_args()
    from epinet_al.report import load_sweep, summarize, write_report

    for name in args.settings.split(","):
        if name not in SETTINGS:
            parser.error(f"unknown setting {name!r}; valid: {', '.join(SETTINGS)}")
    for name in args.settings.split(","):
        setting, root = SETTINGS[name], args.out / name
        seeds = list(range(args.seeds or setting.seeds))
        tune_seeds = list(range(TUNE_SEED0, TUNE_SEED0 + (args.tune_seeds or setting.tune_seeds)))
        run_jobs(tuning_jobs(name, root, tune_seeds), args.workers, f"{root} (tuning)")
        run_jobs(
            reported_jobs(name, root, seeds, choose(curves(root, setting), setting)), args.workers, f"{root} (reported)"
        )
        runs = assemble(root, curves(root, setting), seeds, setting)
        sweep = load_sweep(runs)
        baseline = next(a for a in sweep.runs["agent"].unique() if "subset" in a)
        report = write_report(summarize(sweep.runs, baseline=baseline), root / "report")
        table = diagnostics(runs)
        table.to_csv(root / "report" / "diagnostics.csv")
        print(table.to_string(), flush=True)
        print(f"{name}: {report}", flush=True)


if __name__ == "__main__":
    main()
