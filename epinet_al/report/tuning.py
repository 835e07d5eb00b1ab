"""A two-stage experiment's tuning: choose each agent's configuration on the tuning runs, and write the stage
that runs the chosen configurations on the reported seeds.

Stage 1 is a multirun over agents, a grid of settings and tuning seeds (an experiment file, conf/experiment/).
A run's *configuration* is its job's overrides (``.hydra/overrides.yaml``) without the seed; the *tuned keys* are
the keys the stage-1 sweep varies that are neither a config group nor the seed (``head.l2_scale``,
``trainer.optimizer.lr``); a run's *agent* is its configuration without the tuned keys. ``choose`` picks, by the
selection metric's mean over the tuning seeds:
- per agent, the configuration with the best mean over its curve's evaluation points (the whole curve counts);
- for a baseline without prioritization (runs of ``budget.protocol=subset``), the best configuration at each subset
  size, so that its curve is tuned per fraction, as the paper's baseline is.
The selection metric is the tune split's counterpart of the task's primary metric (``tune/acc`` for ``val/acc``)
where the runs evaluate a tune split, else the primary metric itself (the testbed's tuning runs are separate
problems); never the reported runs' test split.

``write_stage2`` writes the stage-2 folder: ``tuned/<name>.yaml``, one config option per chosen configuration (a
baseline configuration only at the fractions it won: ``<agent>_part<k>``); ``report.yaml``, the primary config of
the stage-2 multirun (every option x the reported seeds); ``tuning.yaml``, what was chosen, by what, on which
runs. The report reads ``tuning.yaml`` to join a baseline's parts into one curve per seed and to leave the tuned
keys out of agent names (``load_sweep``). Nothing is written into the runs' folders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd
from omegaconf import OmegaConf

from epinet_al.report.errors import ReportError

TUNING_FILE = "tuning.yaml"
STAGE2_CONFIG = "report"  # report.yaml: `epinet-al -m --config-dir <stage-2 folder> --config-name report`
TUNED_GROUP = "tuned"
# Keys that tell a baseline's parts apart: each part runs at the fractions (or sizes) its configuration won.
PART_KEYS = ("budget.fractions", "budget.sizes")


def parse(overrides: list[str]) -> list[Any]:
    """Hydra's parse of command-line overrides, imported only by the tuning (the report imports no Hydra)."""
    from epinet_al.sweep_grid import parse as hydra_parse

    return hydra_parse(overrides)


@dataclass(frozen=True)
class TuningRun:
    """One finished stage-1 run: its configuration, agent, seed and curve."""

    folder: Path
    configuration: tuple[str, ...]  # the job's overrides without the seed
    agent: tuple[str, ...]  # the configuration without the tuned keys
    seed: int
    subset: bool  # a fixed-subset baseline's run (budget.protocol=subset)
    config: dict[str, Any]  # the resolved config (summary.json)
    curve: pd.DataFrame  # curve.csv as written: every evaluation point


@dataclass(frozen=True)
class Choice:
    """A chosen configuration: its overrides, and for a baseline part the label counts and fractions it won."""

    name: str
    overrides: list[str]
    score: float  # the selection metric's mean that chose it (at its first label count for a baseline part)
    labels: list[int] = field(default_factory=list)
    part: list[str] = field(default_factory=list)  # budget.fractions=[...] (or sizes) of a baseline part


@dataclass(frozen=True)
class Tuning:
    tune_dir: Path
    metric: str
    mode: str
    tuned_keys: list[str]
    choices: list[Choice]


def _sweep_keys(tune_dir: Path) -> tuple[list[str], set[str]]:
    """The keys the stage-1 sweep varies and the config groups, from its multirun.yaml."""
    path = tune_dir / "multirun.yaml"
    if not path.is_file():
        raise ReportError(f"{tune_dir} is not a sweep folder: it has no multirun.yaml (run stage 1 with -m)")
    master = OmegaConf.load(path).hydra
    params = [f"{key}={value}" for key, value in (master.sweeper.get("params") or {}).items()]
    swept = {o.key_or_group: o.is_sweep_override() for o in parse([*params, *map(str, master.overrides.task)])}
    return [key for key, is_swept in swept.items() if is_swept], {str(group) for group in master.runtime.choices}


def load_tuning_runs(tune_dir: Path) -> tuple[list[TuningRun], list[str]]:
    """Every finished run below ``tune_dir`` and the tuned keys; a ReportError if a run has not finished."""
    swept, groups = _sweep_keys(tune_dir)
    tuned = [key for key in swept if key != "seed" and key not in groups]
    runs, unfinished = [], []
    for overrides_file in sorted(tune_dir.rglob(".hydra/overrides.yaml")):
        folder = overrides_file.parent.parent
        if not (folder / "summary.json").is_file():
            unfinished.append(folder.relative_to(tune_dir).as_posix())
            continue
        summary = json.loads((folder / "summary.json").read_text())
        overrides = [str(o) for o in OmegaConf.load(overrides_file)]
        configuration = tuple(o for o, p in zip(overrides, parse(overrides), strict=True) if p.key_or_group != "seed")
        agent = tuple(o for o, p in zip(configuration, parse(list(configuration)), strict=True)
                      if p.key_or_group not in tuned)  # fmt: skip
        subset = summary["config"]["budget"]["protocol"] == "subset"
        curve = pd.read_csv(folder / "curve.csv")
        runs.append(TuningRun(folder, configuration, agent, int(summary["run"]["seed"]), subset, summary, curve))
    if unfinished:
        raise ReportError(
            f"{len(unfinished)} of {len(unfinished) + len(runs)} tuning runs in {tune_dir} have not finished "
            f"(e.g. {unfinished[0]}): finish stage 1 first (run the same command again)"
        )
    if not runs:
        raise ReportError(f"no tuning runs (job folders with .hydra/overrides.yaml) under {tune_dir}")
    return runs, tuned


def selection_metric(runs: list[TuningRun]) -> tuple[str, str]:
    """The tune split's counterpart of the primary metric if every run evaluates it, else the primary metric."""
    metrics = {(run.config["metric"]["name"], run.config["metric"]["mode"]) for run in runs}
    if len(metrics) > 1:
        raise ReportError(f"the tuning runs disagree on the primary metric: {sorted(metrics)}")
    (primary, mode), tune = next(iter(metrics)), f"tune/{next(iter(metrics))[0].split('/', 1)[1]}"
    return (tune if all(tune in run.curve.columns for run in runs) else primary), mode


def agent_name(agent: list[str]) -> str:
    """An agent's option name: its `agent=` choice, else its group choices joined (epinet_variance)."""
    values = {p.key_or_group: str(p.value()) for p in parse(agent)}
    if "agent" in values:
        return values["agent"]
    names = [values[k] for k in ("head", "acquisition") if k in values]
    return "_".join(names) or "agent"


def choose(tune_dir: Path | str, metric: str | None = None, mode: str | None = None) -> Tuning:
    """Each agent's configuration (each baseline's per subset size) by the selection metric on the tuning runs."""
    tune_dir = Path(tune_dir)
    runs, tuned = load_tuning_runs(tune_dir)
    if (metric is None) != (mode is None):
        raise ReportError("the selection metric and mode go together: give both or neither")
    if metric is None or mode is None:
        metric, mode = selection_metric(runs)
    missing = [run.folder for run in runs if metric not in run.curve.columns]
    if missing:
        raise ReportError(f"{missing[0] / 'curve.csv'} has no column {metric!r}; it cannot select")
    # Overrides as JSON text: a table key that sorts and compares as the override lists do.
    rows = [
        run.curve[["num_labels", metric]].assign(
            agent=json.dumps(run.agent), configuration=json.dumps(run.configuration), seed=run.seed, subset=run.subset
        )
        for run in runs
    ]
    data = pd.concat(rows, ignore_index=True)
    best = "idxmin" if mode == "min" else "idxmax"
    choices = []
    for agent, agent_rows in data.groupby("agent", sort=True):
        name = agent_name(json.loads(agent))
        if agent_rows["subset"].all():
            choices += _per_size(name, agent_rows, metric, best, runs)
            continue
        # Per seed the mean over the curve's evaluation points, then the mean over seeds.
        means = agent_rows.groupby(["configuration", "seed"])[metric].mean().groupby("configuration").mean()
        chosen = getattr(means, best)()
        choices.append(Choice(name, json.loads(chosen), float(means[chosen])))
    return Tuning(tune_dir, metric, mode, tuned, choices)


def _per_size(name: str, rows: pd.DataFrame, metric: str, best: str, runs: list[TuningRun]) -> list[Choice]:
    """A fixed-subset baseline: the best configuration at each subset size, grouped into parts by configuration."""
    means = rows.groupby(["num_labels", "configuration"])[metric].mean()
    won: dict[str, list[int]] = {}
    scores: dict[str, float] = {}
    for labels in sorted(means.index.get_level_values(0).unique()):
        chosen = getattr(means.loc[labels], best)()
        won.setdefault(chosen, []).append(int(labels))
        scores.setdefault(chosen, float(means.loc[(labels, chosen)]))
    choices = []
    for k, (configuration, labels) in enumerate(sorted(won.items(), key=lambda item: item[1][0]), 1):
        run = next(run for run in runs if json.dumps(run.configuration) == configuration)
        choices.append(Choice(f"{name}_part{k}", json.loads(configuration), scores[configuration], labels,
                              [_part_override(run, labels)]))  # fmt: skip
    return choices


def _part_override(run: TuningRun, labels: list[int]) -> str:
    """``budget.fractions=[...]`` (or sizes) giving exactly ``labels`` of a baseline run's subset sizes."""
    budget = run.config["config"]["budget"]
    sizes = sorted(int(n) for n in run.curve["num_labels"].unique())
    if budget.get("sizes"):
        return f"budget.sizes=[{','.join(map(str, labels))}]"
    fractions = sorted(budget["fractions"])
    if len(fractions) != len(sizes):
        raise ReportError(f"{run.folder}: its fractions {fractions} give {len(sizes)} subset sizes {sizes}; "
                          "fractions that round to one size cannot be chosen apart")  # fmt: skip
    by_size = dict(zip(sizes, fractions, strict=True))
    return f"budget.fractions=[{','.join(str(by_size[n]) for n in labels)}]"


def config_option(overrides: list[str], groups: set[str]) -> dict[str, Any]:
    """Command-line overrides as a config option: group choices as defaults-list overrides, values as config."""
    defaults: list[dict[str, str]] = []
    values = OmegaConf.create({})
    for override in parse(overrides):
        key = override.key_or_group
        if override.is_delete():
            raise ReportError(f"a deletion ({override.input_line}) cannot be written into a config option")
        if key in groups:
            defaults.append({f"override /{key}": str(override.value())})
        else:
            OmegaConf.update(values, key, override.value(), force_add=True)
    return {**({"defaults": defaults} if defaults else {}), **cast(dict[str, Any], OmegaConf.to_container(values))}


def _write_yaml(path: Path, header: list[str], content: dict[str, Any]) -> None:
    text = "".join(f"# {line}\n" for line in header) + OmegaConf.to_yaml(OmegaConf.create(content))
    path.write_text(text)


def write_stage2(tuning: Tuning, stage2_dir: Path | str, seeds: str) -> Path:
    """The stage-2 folder: the chosen configurations as config options, report.yaml and tuning.yaml; its path."""
    stage2_dir = Path(stage2_dir).resolve()
    options = stage2_dir / TUNED_GROUP
    options.mkdir(parents=True, exist_ok=True)
    for stale in options.glob("*.yaml"):
        stale.unlink()
    groups = _sweep_keys(tuning.tune_dir)[1]
    how = f"chosen on the tuning runs in {tuning.tune_dir} by {tuning.metric} ({tuning.mode}; {TUNING_FILE})"
    for choice in tuning.choices:
        won = f", at {choice.labels} labels" if choice.labels else ""
        _write_yaml(options / f"{choice.name}.yaml", ["@package _global_", f"{choice.name}: {how}{won}"],
                    config_option([*choice.overrides, *choice.part], groups))  # fmt: skip
    names = ",".join(choice.name for choice in tuning.choices)
    header = [f"Stage 2: the configurations {how}, each on the reported seeds. Written by epinet-al-report --tune.",
              f"  epinet-al -m --config-dir {stage2_dir} --config-name {STAGE2_CONFIG}"]  # fmt: skip
    report = {
        "defaults": ["config", {TUNED_GROUP: None}, "_self_"],
        "hydra": {"sweep": {"dir": str(stage2_dir)}, "sweeper": {"params": {TUNED_GROUP: names, "seed": seeds}}},
    }
    _write_yaml(stage2_dir / f"{STAGE2_CONFIG}.yaml", header, report)
    record = {
        "tuned_on": str(tuning.tune_dir.resolve()),
        "metric": tuning.metric,
        "mode": tuning.mode,
        "tuned_keys": tuning.tuned_keys,
        "seeds": seeds,
        "choices": {c.name: {"overrides": [*c.overrides, *c.part], "score": c.score, "labels": c.labels}
                    for c in tuning.choices},
    }  # fmt: skip
    _write_yaml(stage2_dir / TUNING_FILE, ["What epinet-al-report --tune chose; the report reads it."], record)
    return stage2_dir


def experiment_seeds(tune_dir: Path) -> str:
    """The seeds stage 2 reports, as the experiment gives them to its tuning callback (TuneThenReport)."""
    path = Path(tune_dir) / "multirun.yaml"
    seeds = OmegaConf.select(OmegaConf.load(path), "hydra.callbacks.tuning.seeds") if path.is_file() else None
    if seeds is None:
        raise ReportError(f"{tune_dir} names no reported seeds (hydra.callbacks.tuning.seeds); give --seeds")
    return str(seeds)


def stage2_folder(tune_dir: Path) -> Path:
    """Where stage 2 of the stage-1 folder ``tune_dir`` goes: ``reported`` beside it."""
    return tune_dir.resolve().parent / "reported"


def tuned_keys(sweep_dir: Path) -> list[str] | None:
    """A stage-2 folder's keys chosen per agent by the tuning (tuning.yaml), with the parts' keys; None elsewhere."""
    path = Path(sweep_dir) / TUNING_FILE
    if not path.is_file():
        return None
    return [*OmegaConf.load(path).tuned_keys, *PART_KEYS]
