"""Discover the run folders of a sweep and load them into one tidy table.

A run folder holds `curve.csv` (one row per evaluation: `step`, `num_labels`, then `split/metric`
columns) and, once the run has finished, `summary.json` (which task and seed it was, the task's
primary metric, and the whole resolved config). Run folders may sit at any depth below the sweep
folder.

Runs are compared only on the same data: runs of one task whose data differ (the task's config, or the
fingerprints of the files they read, see `data_identity`) are different problems, each its own section
of the report. Agents are defined by the config: runs of one problem are seeds of one agent only when
their configs are equal once the keys in `IGNORED_KEYS` are removed. See `load_sweep`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from epinet_al.report.errors import ReportError
from epinet_al.report.tuning import tuned_keys

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
CURVE = "curve.csv"
MODES = ("min", "max")
# Who the run was and what it is judged on; one value per run, repeated on each of its rows.
ID_COLUMNS = ["task", "agent", "head", "priority", "seed", "run", "metric", "mode"]
# A setting that tells agents apart is a column `config.<dotted key>` holding the agent's value as
# text (NaN where its config lacks the key). Only keys that vary within the task get a column.
SETTING_PREFIX = "config."
# Config keys (dotted; a key also covers everything below it) that never make two runs different
# agents: the seed (task.seed follows it) and keys that do not change the numbers.
IGNORED_KEYS = (
    "seed",
    "task.seed",
    "progress_bar",
    "logger",
    "resume",
    "keep_state",
    "sweep",
    "trainer.num_threads",
    "model.cache_dir",
    "task.data_dir",
)
# Significant digits a float setting is compared (and shown) with: derived values such as 0.3 / 0.1 =
# 2.9999999999999996 (an older run's prior scale) are the 3 that a user writes.
FLOAT_DIGITS = 12
# A section's own settings are compared only among runs that agree on the key naming its kind:
# an epinet's index_dim is no setting of an mlp, and pool rounds no setting of a prioritized run.
# The kind itself is compared among all runs (head.name and acquisition.priority are in the label).
KINDS = {"head": "head.name", "acquisition": "acquisition.priority", "model": "model.name", "budget": "budget.protocol"}
IN_LABEL = ("head.name", "acquisition.priority")
UNSET = "unset"  # shown for a setting the run's config lacks (an older summary.json)


@dataclass(frozen=True)
class Sweep:
    """Every run below a sweep folder.

    runs: the tidy table described in `load_sweep` (empty if no run could be used).
    skipped: run folder (relative to the sweep folder) -> why it was left out: "unfinished" (no
        summary.json yet) or "unreadable: <reason>".
    """

    runs: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)
    # run folder -> why its result is suspect ("collapsed": near-constant predictions, training loss at or above log C).
    flagged: dict[str, str] = field(default_factory=dict)
    # task -> the keys in which the data of its runs differ (`task.*` config keys, `data.<split>` file
    # fingerprints), for tasks whose runs are on more than one problem; each problem is its own section,
    # named `<task> [key=value, ...]` (see `load_sweep`).
    problems: dict[str, list[str]] = field(default_factory=dict)


def is_metric_column(name: str) -> bool:
    """Metric columns are named `split/metric`; identity and position columns have no slash."""
    return "/" in name


def setting_columns(runs: pd.DataFrame) -> list[str]:
    """The `config.<key>` columns of a runs table, in table order."""
    return [c for c in runs.columns if c.startswith(SETTING_PREFIX)]


def find_run_dirs(sweep_dir: Path) -> list[Path]:
    """Folders below `sweep_dir` holding a curve.csv or a summary.json, sorted by path."""
    return sorted({p.parent for name in (SUMMARY, CURVE) for p in sweep_dir.rglob(name)})


def load_sweep(sweep_dir: Path | str) -> Sweep:
    """Load every finished run below `sweep_dir` into one wide, tidy table.

    One row per (run, distinct `num_labels`), sorted by `num_labels` within a run. Columns: the
    `ID_COLUMNS` (`run` is the run folder relative to `sweep_dir`; `metric`/`mode` are the task's
    primary metric from summary.json), one `config.<key>` column per setting that varies among the
    runs of a task (see below), `step`, `num_labels`, then every `split/metric` column of any run
    (NaN where a run did not log it). Where several rows share a `num_labels`, the last logged
    value of each column is kept: the most trained model at that label count.

    Problems: runs of one task are compared only when their data are the same (`data_identity`: the task
    config without the seed, and the fingerprints of the files read). Where a task's runs are on several
    problems, each is its own section, its `task` column `<task> [key=value, ...]` with the keys that
    differ (`Sweep.problems`): no mean, savings or paired difference mixes two test sets.

    Agents: within a problem, runs whose configs are equal without `IGNORED_KEYS` are seeds of one
    agent; runs whose configs differ anywhere else are different agents. Floats are compared to
    FLOAT_DIGITS significant digits. The agent's name is
    `head/priority`, followed by ` [key=value, ...]` with the problem's varying settings when there
    are any: the keys whose values differ between runs that both set them (a section's keys only
    among runs of the same head, priority, model or protocol, see `KINDS`); keys that only some
    runs set are added, as `key=unset`, only where the names would otherwise collide.

    A stage-2 folder of a tuned experiment (its tuning.yaml, ``epinet_al.report.tuning``): the keys the
    tuning chose per agent are not agent settings (each agent ran its own chosen values), and a baseline's
    parts (one per chosen configuration, each at the fractions it won) are joined into one curve per seed.

    Unfinished runs (no summary.json), unreadable ones, runs without evaluation points and runs whose
    primary metric is not finite somewhere are skipped with a warning and listed in `Sweep.skipped`.
    Raises ReportError if `sweep_dir` is not a folder, or if two runs have the same task, config
    and seed (naming both folders).
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportError(f"sweep folder not found: {sweep_dir}")
    tuned = tuned_keys(sweep_dir)
    ignored = (*IGNORED_KEYS, *(tuned or []))
    # (curve with identity columns, flattened config, data identity) per run.
    loaded: list[tuple[pd.DataFrame, dict[str, str], dict[str, str]]] = []
    skipped: dict[str, str] = {}
    flagged: dict[str, str] = {}
    for run_dir in find_run_dirs(sweep_dir):
        name = run_dir.relative_to(sweep_dir).as_posix()
        if not (run_dir / SUMMARY).is_file():
            log.warning("skipping unfinished run %s: no %s", run_dir, SUMMARY)
            skipped[name] = "unfinished"
            continue
        try:
            frame, config, data = _load_run(run_dir, name, ignored)
        except (ReportError, OSError, ValueError) as err:
            # ValueError covers invalid JSON, undecodable bytes and CSV parser errors.
            log.warning("skipping unreadable run %s: %s", run_dir, err)
            skipped[name] = f"unreadable: {err}"
            continue
        loaded.append((frame, config, data))
        reason = _flag(json.loads((run_dir / SUMMARY).read_text()))
        if reason:
            flagged[name] = reason
    if not loaded:
        return Sweep(pd.DataFrame(columns=[*ID_COLUMNS, "step", "num_labels"]), skipped, flagged)
    if tuned is not None:
        loaded = _join_parts(loaded)
    frames = []
    problems: dict[str, list[str]] = {}
    for task in sorted({frame["task"].iat[0] for frame, _, _ in loaded}):
        task_runs = [run for run in loaded if run[0]["task"].iat[0] == task]
        sections, differing = _split_by_data(task, task_runs)
        if differing:
            problems[task] = differing
            log.warning(
                "task %s: runs on %d different data sets (they differ in %s) are compared separately",
                task,
                len(sections),
                ", ".join(differing),
            )
        for section, section_runs in sections.items():
            named = [(frame.assign(task=section), config) for frame, config, _ in section_runs]
            frames += _name_agents(named, sweep_dir)
    runs = pd.concat(frames, ignore_index=True)
    # concat puts columns in first-seen order; settings go after the identity columns.
    settings = sorted(setting_columns(runs))
    rest = [c for c in runs.columns if c not in ID_COLUMNS and c not in settings]
    return Sweep(runs[[*ID_COLUMNS, *settings, *rest]], skipped, flagged, problems)


def _flag(summary: Mapping[str, Any]) -> str | None:
    """Why a finished run's curve measures little (summary.json's diagnostics), or None."""
    diagnostics = summary.get("diagnostics") or {}
    if diagnostics.get("collapsed"):
        return "collapsed: near-constant predictions, training loss at or above log C"
    if diagnostics.get("one_class"):
        split = str(summary["metric"]["name"]).split("/")[0]
        fraction = (summary.get("final") or {}).get(f"{split}/majority_fraction")
        share = f"{100 * fraction:.1f}% of " if isinstance(fraction, int | float) else ""
        return f"predicts one class: {share}{split} predictions are the same class (its accuracy is that class's share)"
    return None


def data_identity(config: Mapping[str, Any], data: Mapping[str, str] | None) -> dict[str, str]:
    """What makes a run's data what it is, as dotted key -> text: its task config (the testbed's data is
    generated from it) without the seed, which tells seeds apart, and `data.<split>` -> the fingerprint of
    each file it read (summary.json's `data`). Where the fingerprints are recorded the folder they were
    read from is no part of the identity (a copy of the same files is the same data); a run from before
    they were recorded is known by `task.data_dir` instead."""
    task = config.get("task", {})
    task = task if isinstance(task, Mapping) else {}
    ignored = {"seed"} | ({"data_dir"} if data is not None else set())
    identity = {f"task.{k}": v for k, v in _flatten({k: v for k, v in task.items() if k not in ignored}).items()}
    for split, fingerprint in (data or {}).items():
        identity[f"data.{split}"] = str(fingerprint)
    return identity


def _split_by_data(
    task: str, runs: list[tuple[pd.DataFrame, dict[str, str], dict[str, str]]]
) -> tuple[dict[str, list[tuple[pd.DataFrame, dict[str, str], dict[str, str]]]], list[str]]:
    """One task's runs grouped by their data identity: section name -> runs, and the keys that differ.
    With one identity the section is the task itself; with several, `<task> [key=value, ...]` with the
    differing keys (a fingerprint cut to 8 characters; `unset` where a run lacks the key)."""
    groups: dict[str, list] = {}
    for run in runs:
        groups.setdefault(json.dumps(run[2], sort_keys=True), []).append(run)
    if len(groups) == 1:
        return {task: runs}, []
    identities = [members[0][2] for members in groups.values()]
    keys = sorted({k for identity in identities for k in identity})
    differing = [k for k in keys if len({identity.get(k) for identity in identities}) > 1]
    sections = {}
    for identity, members in zip(identities, groups.values(), strict=True):
        values = [f"{k}={_shown(k, identity.get(k, UNSET))}" for k in differing]
        sections[f"{task} [{', '.join(values)}]"] = members
    return sections, differing


def _shown(key: str, value: str) -> str:
    """A data identity's value in a section name: a fingerprint (`data.*`) cut to 8 characters,
    `sha256:1f2e3d4c` or `hf:.../sst2[train]@1f2e3d4c`; config values as they are."""
    if not key.startswith("data."):
        return value
    for mark in ("@", "sha256:"):
        head, found, tail = value.rpartition(mark)
        if found:
            return f"{head}{mark}{tail[:8]}"
    return value


def flatten_config(config: Mapping[str, Any], ignored: tuple[str, ...] = IGNORED_KEYS) -> dict[str, str]:
    """Dotted key -> value as text (JSON for non-strings; lists stay whole; floats to FLOAT_DIGITS
    significant digits), without the ``ignored`` keys."""
    flat = _flatten(config)
    return {k: v for k, v in flat.items() if not any(k == i or k.startswith(i + ".") for i in ignored)}


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flatten(value, dotted + ".")
        else:
            flat[dotted] = value if isinstance(value, str) else json.dumps(_rounded(value))
    return flat


def _rounded(value: Any) -> Any:
    """Floats (also inside lists) to FLOAT_DIGITS significant digits: equal settings compare equal."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{FLOAT_DIGITS}g}")
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def varying_settings(configs: list[dict[str, str]]) -> tuple[list[str], list[str]]:
    """The settings that tell one task's runs apart, each list sorted.

    configs: the flattened configs of the task's runs. Returns (differing, partial): `differing`
    are keys whose values differ between two comparable runs that both set them; `partial` are the
    other keys that some comparable runs set and others do not. Keys in IN_LABEL are left out.
    """
    keys = sorted({k for config in configs for k in config} - set(IN_LABEL))
    differing, partial = [], []
    for key in keys:
        kind = KINDS.get(key.split(".", 1)[0])
        groups: dict[str | None, list[str | None]] = {}
        for config in configs:
            group = config.get(kind) if kind is not None and key != kind else None
            groups.setdefault(group, []).append(config.get(key))
        if any(len({v for v in values if v is not None}) > 1 for values in groups.values()):
            differing.append(key)
        elif any(None in values and len(set(values)) > 1 for values in groups.values()):
            partial.append(key)
    return differing, partial


def _name_agents(loaded: list[tuple[pd.DataFrame, dict[str, str]]], sweep_dir: Path) -> list[pd.DataFrame]:
    """Name the agents of one task's runs (see load_sweep) and add their setting columns."""
    configs = [config for _, config in loaded]
    differing, partial = varying_settings(configs)

    def labels(shown: list[str], unset: bool) -> list[str]:
        # A key the run lacks is left out (not applicable to it) unless `unset` asks to show it.
        names = []
        for frame, config in loaded:
            settings = [f"{k}={config.get(k, UNSET)}" for k in shown if unset or k in config]
            base = f"{frame['head'].iat[0]}/{frame['priority'].iat[0]}"
            names.append(f"{base} [{', '.join(settings)}]" if settings else base)
        return names

    shown = differing
    names = labels(shown, unset=False)
    # head/priority from the run section too: an old summary.json may have no config at all.
    identities = [
        json.dumps([frame["head"].iat[0], frame["priority"].iat[0], config], sort_keys=True) for frame, config in loaded
    ]
    if len(set(zip(names, identities, strict=True))) > len(set(names)):
        # Two configs that differ only in keys some runs lack: show those keys, and where they are unset.
        shown = sorted(differing + partial)
        names = labels(shown, unset=True)

    owners: dict[tuple[str, int], str] = {}
    frames = []
    for (frame, config), identity, name in zip(loaded, identities, names, strict=True):
        key = (identity, int(frame["seed"].iat[0]))
        run = frame["run"].iat[0]
        if key in owners:
            raise ReportError(
                f"two runs of task {frame['task'].iat[0]!r} with the same config and seed {key[1]}: "
                f"{sweep_dir / owners[key]} and {sweep_dir / run}"
            )
        owners[key] = run
        frame = frame.assign(agent=name)
        for k in shown:
            frame[SETTING_PREFIX + k] = config.get(k)
        frames.append(frame)
    return frames


Run = tuple[pd.DataFrame, dict[str, str], dict[str, str]]  # curve, flattened config, data identity


def _join_parts(loaded: list[Run]) -> list[Run]:
    """Runs of one task, config, data and seed (a tuned baseline's parts) as one run: their curves in label order."""
    parts: dict[str, list[Run]] = {}
    for run in loaded:
        frame, config, data = run
        identity = [frame["task"].iat[0], frame["head"].iat[0], frame["priority"].iat[0], int(frame["seed"].iat[0])]
        parts.setdefault(json.dumps([*identity, config, data], sort_keys=True), []).append(run)
    joined = []
    for runs in parts.values():
        if len(runs) == 1:
            joined += runs
            continue
        frames = [frame for frame, _, _ in runs]
        if pd.concat([frame["num_labels"] for frame in frames]).duplicated().any():
            names = " and ".join(frame["run"].iat[0] for frame in frames)
            raise ReportError(f"the parts {names} of one tuned agent and seed evaluate the same label counts")
        frame = pd.concat(frames, ignore_index=True).sort_values("num_labels", ignore_index=True)
        frame["run"] = " + ".join(part["run"].iat[0] for part in frames)
        joined.append((frame, runs[0][1], runs[0][2]))
    return joined


def _load_run(run_dir: Path, name: str, ignored: tuple[str, ...]) -> Run:
    """One run's deduplicated curve with its identity columns in front, its flattened config and its data
    identity. `agent` is left as head/priority; _name_agents names it."""
    summary_path = run_dir / SUMMARY
    try:
        summary = json.loads(summary_path.read_text())
    except json.JSONDecodeError as err:
        raise ReportError(f"{summary_path}: not valid JSON ({err})") from err
    run = _section(summary, "run", summary_path)
    metric = _section(summary, "metric", summary_path)
    config = summary.get("config", {})
    if not isinstance(config, Mapping):
        raise ReportError(f"{summary_path}: config is not an object")
    data = summary.get("data")  # absent in runs from before the files were fingerprinted
    if data is not None and not isinstance(data, Mapping):
        raise ReportError(f"{summary_path}: data is not an object")
    mode = str(_field(metric, "metric", "mode", summary_path))
    if mode not in MODES:
        raise ReportError(f"{summary_path}: metric.mode {mode!r} is not one of {', '.join(MODES)}")
    head = str(_field(run, "run", "head", summary_path))
    priority = str(_field(run, "run", "priority", summary_path))
    identity = {
        "task": str(_field(run, "run", "task", summary_path)),
        "agent": f"{head}/{priority}",
        "head": head,
        "priority": priority,
        "seed": int(_field(run, "run", "seed", summary_path)),
        "run": name,
        "metric": str(_field(metric, "metric", "name", summary_path)),
        "mode": mode,
    }

    if not (run_dir / CURVE).is_file():
        raise ReportError(f"no {CURVE}")
    curve = pd.read_csv(run_dir / CURVE)
    if "num_labels" not in curve.columns:
        raise ReportError(f"{run_dir / CURVE}: no num_labels column; columns: {', '.join(map(str, curve.columns))}")
    primary = identity["metric"]
    if primary in curve.columns:
        # Before the rows are merged, whose GroupBy.last would hide a nan behind an earlier value.
        bad = curve[~np.isfinite(curve[primary].to_numpy(dtype=float))]
        if not bad.empty:
            raise ReportError(
                f"{run_dir / CURVE}: {primary} is {bad[primary].iat[0]} at {bad['num_labels'].iat[0]:g} labels "
                "(not a finite number)"
            )
    # GroupBy.last skips NaN, so each column keeps its latest logged value at that label count.
    curve = curve.dropna(subset=["num_labels"]).groupby("num_labels", sort=True).last().reset_index()
    if curve.empty:
        raise ReportError(f"{run_dir / CURVE} has no evaluation points")
    curve["num_labels"] = curve["num_labels"].astype(int)
    columns = ["step", "num_labels"] if "step" in curve.columns else ["num_labels"]
    columns += [c for c in curve.columns if is_metric_column(c)]
    curve = curve[columns]
    for position, (key, value) in enumerate(identity.items()):
        curve.insert(position, key, value)
    return curve, flatten_config(config, ignored), data_identity(config, data)


def _section(summary: Any, name: str, path: Path) -> Mapping[str, Any]:
    """`summary[name]`, which must be a JSON object."""
    section = summary.get(name) if isinstance(summary, Mapping) else None
    if not isinstance(section, Mapping):
        raise ReportError(f"{path}: missing object {name!r}")
    return section


def _field(section: Mapping[str, Any], section_name: str, key: str, path: Path) -> Any:
    """`section[key]`, naming the missing key and the file if it is absent."""
    if key not in section:
        raise ReportError(f"{path}: missing {section_name}.{key}")
    return section[key]
