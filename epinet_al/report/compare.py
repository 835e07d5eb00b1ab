"""Turn the loaded runs into the comparison: per task a table and mean curves, across tasks wins."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from epinet_al.report import stats
from epinet_al.report.errors import ReportError
from epinet_al.report.runs import MODES, SETTING_PREFIX, is_metric_column, setting_columns

log = logging.getLogger(__name__)

# The selection diagnostics of a run's curve (docs/heads_and_priorities.md) that the table shows, by table
# column; "{split}" is the primary metric's split.
DIAGNOSTICS = {
    "seen_unseen": "pool/seen_unseen",
    "priority_seen_unseen": "pool/priority_seen_unseen",
    "far_unseen": "pool/far_unseen",
    "spread_change": "{split}/spread_change",
    "overlap_entropy": "pool/overlap_entropy",
    "overlap_index": "pool/overlap_index",
}
# Columns of TaskSummary.table, in order (its index is the agent).
TABLE_COLUMNS = [
    "seeds",  # number of seeds
    "final_labels",  # mean over seeds of the label count at each seed's last point
    "final_mean",  # primary metric at each seed's last point: mean over seeds
    "final_ci",  # ... and the 95% t-interval half-width (NaN with one seed)
    "auc_mean",  # average metric over the task's common label range, mean over seeds
    "auc_ci",
    "auc_log_mean",  # the same against log(labels): each doubling of the labels weighs alike
    "auc_log_ci",
    "labels_to_reach",  # labels at which the seed-mean curve reaches the baseline's mean final value
    "savings",  # baseline's labels to reach its own mean final value / labels_to_reach
    "auc_diff_mean",  # AUC minus the baseline's AUC on the same seed, mean over the seeds both ran
    "auc_diff_ci",  # ... and its 95% t-interval half-width: a paired comparison (NaN for the baseline)
    *DIAGNOSTICS,  # the selection diagnostics at each seed's last point, mean over the seeds that logged them
]


@dataclass(frozen=True)
class Band:
    """An agent's seed-mean curve on a label grid; arrays of shape [G], NaN where undefined."""

    labels: np.ndarray
    mean: np.ndarray
    half_width: np.ndarray  # of the 95% t-interval; NaN everywhere with one seed
    lower: np.ndarray  # mean -/+ half_width clipped to the metric's range: what the plots shade
    upper: np.ndarray
    seeds: int


@dataclass(frozen=True)
class TaskSummary:
    """The comparison of the agents on one task.

    table: one row per agent (index "agent", columns TABLE_COLUMNS), best AUC first.
    bands: metric column -> agent -> Band; the primary metric first, then possibly an
        accuracy-like column to show next to it.
    auc_range: the label range (lo, hi) that every seed of the task covers; AUCs average over it.
    settings: the config keys (dotted) whose values tell the task's agents apart, as shown in
        their names (see runs.load_sweep); empty when head and priority alone do.
    savings: the savings read-off against the baseline at every point of its seed-mean curve,
        one row per (agent, target), columns "agent" then stats.SAVINGS_COLUMNS, agents in table
        order; empty without a baseline.
    """

    task: str
    metric: str
    mode: str
    baseline: str | None
    auc_range: tuple[float, float]
    table: pd.DataFrame
    bands: dict[str, dict[str, Band]]
    settings: list[str]
    savings: pd.DataFrame


@dataclass(frozen=True)
class Summary:
    """All tasks (sorted by name) and the pairwise win matrix (see stats.win_matrix)."""

    tasks: list[TaskSummary]
    wins: pd.DataFrame


def summarize(
    runs: pd.DataFrame,
    baseline: str | None = None,
    metric: str | None = None,
    mode: str | None = None,
) -> Summary:
    """Compare the agents of every task in `runs` (the table of `load_sweep`).

    baseline: the agent the others are measured against on every task (its full name, settings
        included). Default, per task: an agent with priority "uniform", head "mlp" if there is one;
        among several such, the one whose settings (`config.*` columns) the most runs of the task
        share, then the first by name. Tasks without one get no labels-to-reach or savings.
    metric, mode: compare on this `split/metric` column instead of each task's primary metric;
        both or neither. The column must be in every run.
    Raises ReportError on bad input, naming it and the valid choices.
    """
    if runs.empty:
        raise ReportError("no runs to summarize")
    if (metric is None) != (mode is None):
        raise ReportError("metric and mode go together: give both or neither")
    if mode is not None and mode not in MODES:
        raise ReportError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if metric is not None:
        common = _common_metric_columns(runs)
        if metric not in common:
            raise ReportError(
                f"unknown metric column {metric!r} (must be in every run); "
                f"valid: {', '.join(common) or 'none, no column is in every run'}"
            )
    tasks = [
        _summarize_task(str(task), task_runs, baseline, metric, mode)
        for task, task_runs in runs.groupby("task", sort=True)
    ]
    auc = pd.DataFrame({t.task: t.table["auc_mean"] for t in tasks}).T
    modes = pd.Series({t.task: t.mode for t in tasks})
    return Summary(tasks=tasks, wins=stats.win_matrix(auc, modes))


def summary_table(summary: Summary) -> pd.DataFrame:
    """The machine-readable table: one row per (task, agent), task-level facts repeated."""
    frames = []
    for task in summary.tasks:
        frame = task.table.reset_index()
        frame.insert(0, "task", task.task)
        frame.insert(2, "baseline", frame["agent"] == task.baseline)
        frame.insert(3, "metric", task.metric)
        frame.insert(4, "mode", task.mode)
        frame["auc_lo"], frame["auc_hi"] = task.auc_range
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def savings_table(summary: Summary) -> pd.DataFrame:
    """Every task's savings read-off in one tidy table: columns "task", "agent", SAVINGS_COLUMNS."""
    frames = [task.savings.assign(task=task.task) for task in summary.tasks]
    return pd.concat(frames, ignore_index=True)[["task", "agent", *stats.SAVINGS_COLUMNS]]


def _summarize_task(
    task: str, runs: pd.DataFrame, baseline: str | None, metric: str | None, mode: str | None
) -> TaskSummary:
    if metric is None or mode is None:
        metric, mode = _primary_metric(task, runs)
    curves = _seed_curves(runs, metric)
    base = _pick_baseline(task, runs, baseline)
    grid = _grid(curves)
    bands = {agent: _band(list(by_seed.values()), grid, metric) for agent, by_seed in curves.items()}

    # AUCs average over the label range every seed covers, so that agents compare on one range.
    every = [curve for by_seed in curves.values() for curve in by_seed.values()]
    lo, hi = max(x[0] for x, _ in every), min(x[-1] for x, _ in every)
    if hi <= lo:
        log.warning("task %s: the runs share no label range (%s to %s); AUC left empty", task, lo, hi)

    # The target is the baseline's mean final value; the baseline's own labels to reach it are the
    # numerator of every agent's savings ratio.
    target = np.nan if base is None else float(np.mean([y[-1] for _, y in curves[base].values()]))
    base_labels = np.nan if base is None else stats.labels_to_reach(grid, bands[base].mean, target, mode)

    aucs = {
        agent: {seed: stats.normalized_auc(curve, lo, hi) if hi > lo else np.nan for seed, curve in by_seed.items()}
        for agent, by_seed in curves.items()
    }
    rows = {}
    for agent, by_seed in curves.items():
        seed_curves = list(by_seed.values())
        final_mean, final_ci = stats.t_interval(np.array([y[-1] for _, y in seed_curves]))
        auc_mean, auc_ci = stats.t_interval(np.array(list(aucs[agent].values())))
        log_aucs = [stats.normalized_log_auc(curve, lo, hi) if hi > lo else np.nan for curve in seed_curves]
        auc_log_mean, auc_log_ci = stats.t_interval(np.array(log_aucs))
        reach = np.nan if base is None else stats.labels_to_reach(grid, bands[agent].mean, target, mode)
        paired = [] if base is None or agent == base else sorted(set(aucs[agent]) & set(aucs[base]))
        diff_mean, diff_ci = (
            stats.t_interval(np.array([aucs[agent][s] - aucs[base][s] for s in paired]))
            if paired and base is not None
            else (np.nan, np.nan)
        )
        rows[agent] = {
            "seeds": len(seed_curves),
            "final_labels": float(np.mean([x[-1] for x, _ in seed_curves])),
            "final_mean": float(final_mean),
            "final_ci": float(final_ci),
            "auc_mean": float(auc_mean),
            "auc_ci": float(auc_ci),
            "auc_log_mean": float(auc_log_mean),
            "auc_log_ci": float(auc_log_ci),
            "labels_to_reach": reach,
            "savings": stats.savings_ratio(base_labels, reach),
            "auc_diff_mean": float(diff_mean),
            "auc_diff_ci": float(diff_ci),
        }
    for agent, values in _final_diagnostics(runs, metric.split("/")[0]).items():
        rows[agent].update(values)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=TABLE_COLUMNS)
    table.index.name = "agent"
    table = table.sort_values(["auc_mean", "agent"], ascending=[mode == "min", True], na_position="last")

    all_bands = {metric: {agent: bands[agent] for agent in table.index}}
    second = _second_metric(runs, metric)
    if second is not None:
        second_curves = _seed_curves(runs, second)
        second_grid = _grid(second_curves)
        all_bands[second] = {
            agent: _band(list(second_curves[agent].values()), second_grid, second)
            for agent in table.index
            if agent in second_curves
        }
    savings = _savings(curves, base, list(table.index), mode)
    settings = [c.removeprefix(SETTING_PREFIX) for c in setting_columns(runs) if runs[c].notna().any()]
    return TaskSummary(task, metric, mode, base, (float(lo), float(hi)), table, all_bands, settings, savings)


def _savings(curves: dict[str, dict[int, stats.Curve]], base: str | None, agents: list[str], mode: str) -> pd.DataFrame:
    """The savings read-off of every agent (in `agents` order) at the points of the baseline's
    seed-mean curve, taken on the label counts the baseline evaluated (where all its seeds are defined)."""
    if base is None:
        return pd.DataFrame(columns=["agent", *stats.SAVINGS_COLUMNS])
    base_curves = list(curves[base].values())
    base_grid = np.unique(np.concatenate([x for x, _ in base_curves]))
    base_mean = stats.seed_matrix(base_curves, base_grid).mean(axis=0)
    defined = np.isfinite(base_mean)
    targets = (base_grid[defined], base_mean[defined])
    frames = [
        stats.savings_read_off(targets, list(curves[agent].values()), mode).assign(agent=agent) for agent in agents
    ]
    return pd.concat(frames, ignore_index=True)[["agent", *stats.SAVINGS_COLUMNS]]


def _primary_metric(task: str, runs: pd.DataFrame) -> tuple[str, str]:
    """The task's primary metric and mode from summary.json; all its runs must agree and log it."""
    declared = runs[["metric", "mode"]].drop_duplicates()
    if len(declared) > 1:
        found = ", ".join(f"{m} ({d})" for m, d in declared.itertuples(index=False))
        raise ReportError(f"task {task!r}: runs disagree on the primary metric: {found}")
    metric, mode = declared.iloc[0]
    for run, run_rows in runs.groupby("run", sort=True):
        if metric not in run_rows.columns or run_rows[metric].isna().all():
            logged = [c for c in run_rows.columns if is_metric_column(c) and run_rows[c].notna().any()]
            raise ReportError(f"run {run}: primary metric {metric!r} not in curve.csv; columns: {', '.join(logged)}")
    return str(metric), str(mode)


def _common_metric_columns(runs: pd.DataFrame) -> list[str]:
    """Metric columns that every run logged at least once, in table order."""
    logged = runs.groupby("run")[[c for c in runs.columns if is_metric_column(c)]].count() > 0
    return [c for c in logged.columns if logged[c].all()]


def _second_metric(runs: pd.DataFrame, primary: str) -> str | None:
    """An accuracy-like column to plot beside the primary metric: test/acc, test/accuracy, else
    the first column (in table order) whose metric name contains "acc"; None if there is none."""
    logged = [c for c in runs.columns if is_metric_column(c) and c != primary and runs[c].notna().any()]
    for preferred in ("test/acc", "test/accuracy"):
        if preferred in logged:
            return preferred
    return next((c for c in logged if "acc" in c.split("/", 1)[1]), None)


def _seed_curves(runs: pd.DataFrame, metric: str) -> dict[str, dict[int, stats.Curve]]:
    """agent -> seed -> curve of `metric`, seeds in order; runs that never logged it are left out.
    Relies on load_sweep's rows being unique and sorted in num_labels within a run."""
    curves: dict[str, dict[int, stats.Curve]] = {}
    for (agent, seed), run_rows in runs.groupby(["agent", "seed"], sort=True):
        points = run_rows[["num_labels", metric]].dropna()
        if not points.empty:
            curves.setdefault(str(agent), {})[int(seed)] = (
                points["num_labels"].to_numpy(dtype=float),
                points[metric].to_numpy(dtype=float),
            )
    return curves


def _final_diagnostics(runs: pd.DataFrame, split: str) -> dict[str, dict[str, float]]:
    """agent -> the DIAGNOSTICS at each seed's last point, mean over the seeds that logged them (NaN: none)."""
    columns = {name: column.format(split=split) for name, column in DIAGNOSTICS.items()}
    last = runs.groupby(["agent", "seed"], sort=True).tail(1)  # load_sweep sorts each run by num_labels
    return {
        str(agent): {name: float(rows[col].mean()) if col in rows else np.nan for name, col in columns.items()}
        for agent, rows in last.groupby("agent", sort=True)
    }


def _grid(curves: dict[str, dict[int, stats.Curve]]) -> np.ndarray:
    """The union of all evaluated label counts: [G]."""
    return np.unique(np.concatenate([x for by_seed in curves.values() for x, _ in by_seed.values()]))


def _band(seed_curves: list[stats.Curve], grid: np.ndarray, metric: str) -> Band:
    mean, half_width = stats.t_interval(stats.seed_matrix(seed_curves, grid))
    lower, upper = stats.band_limits(metric, mean, half_width)
    return Band(grid, mean, half_width, lower, upper, len(seed_curves))


def _pick_baseline(task: str, runs: pd.DataFrame, override: str | None) -> str | None:
    """The agent named by `override`, else the default described in `summarize`."""
    settings = setting_columns(runs)
    # One row per run: its agent and settings (NaN, unset, compares equal to NaN below).
    per_run = runs.drop_duplicates("run")[["agent", "head", "priority", *settings]].fillna("\0unset")
    agents = per_run.drop_duplicates("agent").sort_values("agent")
    if override is not None:
        if override not in set(agents["agent"]):
            raise ReportError(
                f"unknown baseline agent {override!r} for task {task!r}; valid: {', '.join(agents['agent'])}"
            )
        return override
    uniform = agents[agents["priority"] == "uniform"]
    if uniform.empty:
        log.warning("task %s: no agent with priority 'uniform'; no labels-to-reach or savings", task)
        return None
    mlp = uniform[uniform["head"] == "mlp"]
    candidates = mlp if not mlp.empty else uniform
    # Among variants of it, the one whose settings most of the task's runs share (ties: first name).
    shared = [int((per_run[settings] == row[settings]).all(axis=1).sum()) for _, row in candidates.iterrows()]
    return str(candidates["agent"].iat[int(np.argmax(shared))])
