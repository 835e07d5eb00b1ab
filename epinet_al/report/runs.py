"""Discover the run folders of a sweep and load them into one tidy table.

A run folder holds `curve.csv` (one row per evaluation: `step`, `num_labels`, then `split/metric`
columns) and, once the run has finished, `summary.json` (which agent, seed and task it was, and the
task's primary metric). Run folders may sit at any depth below the sweep folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from epinet_al.report.errors import ReportError

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
CURVE = "curve.csv"
MODES = ("min", "max")
# Who the run was and what it is judged on; one value per run, repeated on each of its rows.
ID_COLUMNS = ["task", "agent", "head", "priority", "seed", "run", "metric", "mode"]


def is_metric_column(name: str) -> bool:
    """Metric columns are named `split/metric`; identity and position columns have no slash."""
    return "/" in name


def find_run_dirs(sweep_dir: Path) -> list[Path]:
    """Folders below `sweep_dir` holding a curve.csv or a summary.json, sorted by path."""
    return sorted({p.parent for name in (SUMMARY, CURVE) for p in sweep_dir.rglob(name)})


def load_runs(sweep_dir: Path | str) -> pd.DataFrame:
    """Load every finished run below `sweep_dir` into one wide, tidy table.

    One row per (run, distinct `num_labels`), sorted by `num_labels` within a run. Columns: the
    `ID_COLUMNS` (`run` is the run folder relative to `sweep_dir`; `metric`/`mode` are the task's
    primary metric from summary.json), `step`, `num_labels`, then every `split/metric` column of any
    run (NaN where a run did not log it). Where several rows share a `num_labels`, the last logged
    value of each column is kept: the most trained model at that label count.

    Unfinished runs (no summary.json) and runs without evaluation points are skipped with a warning.
    Raises ReportError if `sweep_dir` is not a folder, a summary.json is malformed, or two runs
    claim the same (task, agent, seed). Returns an empty table if no run has finished.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportError(f"sweep folder not found: {sweep_dir}")
    frames: list[pd.DataFrame] = []
    owners: dict[tuple[str, str, int], Path] = {}
    for run_dir in find_run_dirs(sweep_dir):
        if not (run_dir / SUMMARY).is_file():
            log.warning("skipping unfinished run %s: no %s", run_dir, SUMMARY)
            continue
        if not (run_dir / CURVE).is_file():
            log.warning("skipping run %s: no %s", run_dir, CURVE)
            continue
        frame = _load_run(run_dir, sweep_dir)
        if frame.empty:
            log.warning("skipping run %s: %s has no evaluation points", run_dir, CURVE)
            continue
        key = (frame["task"].iat[0], frame["agent"].iat[0], int(frame["seed"].iat[0]))
        if key in owners:
            raise ReportError(
                f"two runs for task {key[0]!r}, agent {key[1]!r}, seed {key[2]}: {owners[key]} and {run_dir}"
            )
        owners[key] = run_dir
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*ID_COLUMNS, "step", "num_labels"])
    return pd.concat(frames, ignore_index=True)


def _load_run(run_dir: Path, sweep_dir: Path) -> pd.DataFrame:
    """One run's deduplicated curve with its identity columns in front."""
    summary_path = run_dir / SUMMARY
    try:
        summary = json.loads(summary_path.read_text())
    except json.JSONDecodeError as err:
        raise ReportError(f"{summary_path}: not valid JSON ({err})") from err
    run = _section(summary, "run", summary_path)
    metric = _section(summary, "metric", summary_path)
    mode = str(_field(metric, "metric", "mode", summary_path))
    if mode not in MODES:
        raise ReportError(f"{summary_path}: metric.mode {mode!r} is not one of {', '.join(MODES)}")
    identity = {
        "task": str(_field(run, "run", "task", summary_path)),
        "agent": str(_field(run, "run", "agent", summary_path)),
        "head": str(_field(run, "run", "head", summary_path)),
        "priority": str(_field(run, "run", "priority", summary_path)),
        "seed": int(_field(run, "run", "seed", summary_path)),
        "run": run_dir.relative_to(sweep_dir).as_posix(),
        "metric": str(_field(metric, "metric", "name", summary_path)),
        "mode": mode,
    }

    curve = pd.read_csv(run_dir / CURVE)
    if "num_labels" not in curve.columns:
        raise ReportError(f"{run_dir / CURVE}: no num_labels column; columns: {', '.join(map(str, curve.columns))}")
    # GroupBy.last skips NaN, so each column keeps its latest logged value at that label count.
    curve = curve.dropna(subset=["num_labels"]).groupby("num_labels", sort=True).last().reset_index()
    curve["num_labels"] = curve["num_labels"].astype(int)
    columns = ["step", "num_labels"] if "step" in curve.columns else ["num_labels"]
    columns += [c for c in curve.columns if is_metric_column(c)]
    curve = curve[columns]
    for position, (name, value) in enumerate(identity.items()):
        curve.insert(position, name, value)
    return curve


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
