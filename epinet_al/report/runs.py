"""Discover the run folders of a sweep and load them into one tidy table.

A run folder holds `curve.csv` (one row per evaluation: `step`, `num_labels`, then `split/metric`
columns) and, once the run has finished, `summary.json` (which task and seed it was, the task's
primary metric, and the whole resolved config). Run folders may sit at any depth below the sweep
folder.

Agents are defined by the config: runs of one task are seeds of one agent only when their configs
are equal once the keys in `IGNORED_KEYS` are removed. See `load_sweep`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    Agents: within a task, runs whose configs are equal without `IGNORED_KEYS` are seeds of one
    agent; runs whose configs differ anywhere else are different agents. The agent's name is
    `head/priority`, followed by ` [key=value, ...]` with the task's varying settings when there
    are any: the keys whose values differ between runs that both set them (a section's keys only
    among runs of the same head, priority, model or protocol, see `KINDS`); keys that only some
    runs set are added, as `key=unset`, only where the names would otherwise collide.

    A stage-2 folder of a tuned experiment (its tuning.yaml, ``epinet_al.report.tuning``): the keys the
    tuning chose per agent are not agent settings (each agent ran its own chosen values), and a baseline's
    parts (one per chosen configuration, each at the fractions it won) are joined into one curve per seed.

    Unfinished runs (no summary.json), unreadable ones and runs without evaluation points are
    skipped with a warning and listed in `Sweep.skipped`.
    Raises ReportError if `sweep_dir` is not a folder, or if two runs have the same task, config
    and seed (naming both folders).
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportError(f"sweep folder not found: {sweep_dir}")
    tuned = tuned_keys(sweep_dir)
    ignored = (*IGNORED_KEYS, *(tuned or []))
    loaded: list[tuple[pd.DataFrame, dict[str, Any]]] = []
    skipped: dict[str, str] = {}
    flagged: dict[str, str] = {}
    for run_dir in find_run_dirs(sweep_dir):
        name = run_dir.relative_to(sweep_dir).as_posix()
        if not (run_dir / SUMMARY).is_file():
            log.warning("skipping unfinished run %s: no %s", run_dir, SUMMARY)
            skipped[name] = "unfinished"
            continue
        try:
            frame, config = _load_run(run_dir, name, ignored)
        except (ReportError, OSError, ValueError) as err:
            # ValueError covers invalid JSON, undecodable bytes and CSV parser errors.
            log.warning("skipping unreadable run %s: %s", run_dir, err)
            skipped[name] = f"unreadable: {err}"
            continue
        loaded.append((frame, config))
        diagnostics = json.loads((run_dir / SUMMARY).read_text()).get("diagnostics") or {}
        if diagnostics.get("collapsed"):
            flagged[name] = "collapsed: near-constant predictions, training loss at or above log C"
    if not loaded:
        return Sweep(pd.DataFrame(columns=[*ID_COLUMNS, "step", "num_labels"]), skipped, flagged)
    if tuned is not None:
        loaded = _join_parts(loaded)
    frames = []
    for task in sorted({frame["task"].iat[0] for frame, _ in loaded}):
        frames += _name_agents([(f, c) for f, c in loaded if f["task"].iat[0] == task], sweep_dir)
    runs = pd.concat(frames, ignore_index=True)
    # concat puts columns in first-seen order; settings go after the identity columns.
    settings = sorted(setting_columns(runs))
    rest = [c for c in runs.columns if c not in ID_COLUMNS and c not in settings]
    return Sweep(runs[[*ID_COLUMNS, *settings, *rest]], skipped, flagged)


def flatten_config(config: Mapping[str, Any], ignored: tuple[str, ...] = IGNORED_KEYS) -> dict[str, str]:
    """Dotted key -> value as text (JSON for non-strings; lists stay whole), without the ``ignored`` keys."""
    flat: dict[str, str] = {}

    def visit(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if any(dotted == k or dotted.startswith(k + ".") for k in ignored):
                continue
            if isinstance(value, Mapping):
                visit(value, dotted + ".")
            else:
                flat[dotted] = value if isinstance(value, str) else json.dumps(value)

    visit(config, "")
    return flat


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


def _join_parts(loaded: list[tuple[pd.DataFrame, dict[str, str]]]) -> list[tuple[pd.DataFrame, dict[str, str]]]:
    """Runs of one task, config and seed (a tuned baseline's parts) as one run: their curves in label order."""
    parts: dict[str, list[tuple[pd.DataFrame, dict[str, str]]]] = {}
    for frame, config in loaded:
        identity = [frame["task"].iat[0], frame["head"].iat[0], frame["priority"].iat[0], int(frame["seed"].iat[0])]
        parts.setdefault(json.dumps([*identity, config], sort_keys=True), []).append((frame, config))
    joined = []
    for runs in parts.values():
        if len(runs) == 1:
            joined += runs
            continue
        frames = [frame for frame, _ in runs]
        labels = pd.concat([frame["num_labels"] for frame in frames])
        if labels.duplicated().any():
            names = " and ".join(frame["run"].iat[0] for frame in frames)
            raise ReportError(f"the parts {names} of one tuned agent and seed evaluate the same label counts")
        frame = pd.concat(frames, ignore_index=True).sort_values("num_labels", ignore_index=True)
        frame["run"] = " + ".join(part["run"].iat[0] for part in frames)
        joined.append((frame, runs[0][1]))
    return joined


def _load_run(run_dir: Path, name: str, ignored: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, str]]:
    """One run's deduplicated curve with its identity columns in front, and its flattened config.
    `agent` is left as head/priority; _name_agents names it."""
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
    return curve, flatten_config(config, ignored)


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
