"""Statistics of data-efficiency curves: pure functions on numpy arrays and pandas tables.

Shape letters: S seeds, G points of a label grid. A curve is a pair of arrays `(labels, values)`
of one length, `labels` strictly increasing; between evaluation points it is linear in labels.
`mode` is "min" when lower metric values are better, "max" when higher ones are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from epinet_al.curves import Curve, normalized_auc, normalized_log_auc  # noqa: F401  (the report's AUC is the run's)

# The values a metric can take, by its name (the part of `split/name` after the slash).
METRIC_RANGES = {
    "acc": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "ece": (0.0, 1.0),
    "matthews": (-1.0, 1.0),
    "pearson": (-1.0, 1.0),
    "spearman": (-1.0, 1.0),
    "nll": (0.0, np.inf),
    "joint_nll": (0.0, np.inf),
}
# Columns of savings_read_off's table, in order.
SAVINGS_COLUMNS = [
    "target_labels",  # L_i: a label count of the baseline's seed-mean curve
    "target_value",  # m_i: the baseline's seed-mean metric there
    "labels_mean",  # labels the agent needs to reach m_i: mean over the seeds that reach it
    "labels_ci",  # ... and the 95% t-interval half-width over those seeds
    "savings_mean",  # L_i / labels needed, per seed: mean over the seeds that reach m_i
    "savings_ci",
    "reached_seeds",  # seeds whose curve reaches m_i at all
    "seeds",  # seeds in all
]


def t_interval(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over axis 0 (the seeds) and the half-width of its 95% t confidence interval.

    values: [S, ...]. Returns (mean, half_width), each of shape [...]:
    half_width = t_{0.975, S-1} * sd / sqrt(S) with the sample sd (ddof=1), NaN when S < 2.
    """
    values = np.asarray(values, dtype=float)
    num_seeds = values.shape[0]
    mean = values.mean(axis=0)
    if num_seeds < 2:
        return mean, np.full_like(mean, np.nan)
    sem = values.std(axis=0, ddof=1) / np.sqrt(num_seeds)
    return mean, stats.t.ppf(0.975, num_seeds - 1) * sem


def seed_matrix(curves: Sequence[Curve], grid: np.ndarray) -> np.ndarray:
    """The seeds' curves of one agent on a common label grid: [S, G].

    Linear interpolation between a seed's evaluation points. Nothing is extrapolated from a trend:
    - before a seed's first point the value is NaN (no claim about fewer labels than it measured);
    - after a seed's last point and up to the agent's longest seed, the seed is clamped to its last
      value, so the seed mean at the agent's end equals the mean final value and a seed that
      stopped at fewer labels keeps counting with the performance it reached;
    - beyond the agent's longest seed the value is NaN (the agent never got there).
    """
    end = max(labels[-1] for labels, _ in curves)
    matrix = np.full((len(curves), grid.size), np.nan)
    for s, (labels, values) in enumerate(curves):
        inside = (grid >= labels[0]) & (grid <= end)
        # np.interp holds the last value beyond the last point: the clamp described above.
        matrix[s, inside] = np.interp(grid[inside], labels, values)
    return matrix


def reaches(values: np.ndarray, target: float, mode: str) -> np.ndarray:
    """Where `values` are at least as good as `target`; float round-off counts as reaching it.

    The tolerance matters for the baseline, whose own mean final value is the target and is
    recomputed from the same numbers in a different summation order.
    """
    at_least = values <= target if mode == "min" else values >= target
    return at_least | np.isclose(values, target, rtol=1e-9, atol=1e-12)


def labels_to_reach(grid: np.ndarray, curve: np.ndarray, target: float, mode: str) -> float:
    """First label count at which `curve` ([G], NaN where undefined) reaches `target`.

    Linear interpolation between the two grid points around the crossing, which is exact when the
    curve is a mean of piecewise-linear seed curves whose breakpoints all lie on the grid.
    NaN if the curve never reaches the target.
    """
    defined = np.isfinite(curve)
    labels, values = grid[defined], curve[defined]
    reached = reaches(values, target, mode)
    if not reached.any():
        return float("nan")
    i = int(np.argmax(reached))
    if i == 0:
        return float(labels[0])
    fraction = (target - values[i - 1]) / (values[i] - values[i - 1])
    # Clip: a point reached only within round-off would put the crossing just past it.
    return float(labels[i - 1] + np.clip(fraction, 0.0, 1.0) * (labels[i] - labels[i - 1]))


def savings_ratio(baseline_labels: float, agent_labels: float) -> float:
    """Baseline's labels over the agent's: > 1 means the agent needs fewer labels.

    NaN if either never reached the target; inf if the agent reached it with zero labels.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(baseline_labels) / np.float64(agent_labels))


def band_limits(column: str, mean: np.ndarray, half_width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plotted 95% band (mean - half_width, mean + half_width), clipped to the values metric
    `column` (`split/name`) can take (METRIC_RANGES; names not listed there are not clipped).
    Only the drawing is clipped: the tables show the t-interval as computed."""
    lo, hi = METRIC_RANGES.get(column.split("/", 1)[-1], (-np.inf, np.inf))
    return np.clip(mean - half_width, lo, hi), np.clip(mean + half_width, lo, hi)


def savings_error_bars(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(below, above) the mean of each savings_read_off row: its 95% t-interval, clipped at 0 below (a
    ratio of label counts is positive; the interval of a few skewed seeds reaches far below 0), 0 where
    there is no interval (one seed)."""
    mean, half = rows["savings_mean"].to_numpy(dtype=float), rows["savings_ci"].fillna(0.0).to_numpy(dtype=float)
    return np.minimum(half, np.maximum(mean, 0.0)), half


def savings_read_off(targets: Curve, seed_curves: Sequence[Curve], mode: str) -> pd.DataFrame:
    """Labels an agent needs to reach each point of the baseline's curve, and the savings ratio.

    targets: the baseline's seed-mean curve (L [T], m [T]); points with L = 0 are left out (no
    labels to save). seed_curves: the agent's S seed curves. For each target m_i and seed, the labels
    the seed needs are `labels_to_reach` on that seed's own curve (NaN if it never gets there); its
    savings is L_i / labels needed (> 1: fewer labels than the baseline). Means and 95% t-intervals
    are over the seeds that reach m_i, whose count is in `reached_seeds`.
    Returns one row per target, columns SAVINGS_COLUMNS.
    """
    rows = []
    for target_labels, target_value in zip(*targets, strict=True):
        if target_labels <= 0:
            continue
        needed = np.array([labels_to_reach(x, y, target_value, mode) for x, y in seed_curves])
        reached = needed[np.isfinite(needed)]
        row = {"target_labels": float(target_labels), "target_value": float(target_value)}
        if reached.size:
            labels_mean, labels_ci = t_interval(reached)
            # A seed that reaches m_i with 0 labels saves infinitely much; the mean is then inf.
            with np.errstate(divide="ignore", invalid="ignore"):
                savings_mean, savings_ci = t_interval(target_labels / reached)
        else:
            labels_mean = labels_ci = savings_mean = savings_ci = np.array(np.nan)
        row |= {
            "labels_mean": float(labels_mean),
            "labels_ci": float(labels_ci),
            "savings_mean": float(savings_mean),
            "savings_ci": float(savings_ci),
            "reached_seeds": int(reached.size),
            "seeds": len(seed_curves),
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=SAVINGS_COLUMNS)


def win_matrix(auc: pd.DataFrame, modes: pd.Series) -> pd.DataFrame:
    """Pairwise wins across tasks.

    auc: one row per task, one column per agent, the mean AUC (NaN where an agent did not run).
    modes: "min"/"max" per task (same index as `auc`).
    Returns an int table, rows and columns the agents: cell (i, j) counts the tasks where agent i's
    AUC is strictly better than agent j's (tasks missing either are not counted), plus a column
    "wins" with each row's total. Agents are ordered by wins, most first, then by name.
    """
    agents = list(auc.columns)
    counts = np.zeros((len(agents), len(agents)), dtype=int)
    for task, row in auc.iterrows():
        values = row.to_numpy(dtype=float)
        # Comparisons with NaN are False, so a missing agent neither wins nor loses.
        if modes[task] == "min":
            counts += values[:, None] < values[None, :]
        else:
            counts += values[:, None] > values[None, :]
    table = pd.DataFrame(counts, index=pd.Index(agents, name="agent"), columns=agents)
    table["wins"] = counts.sum(axis=1)
    order = sorted(agents, key=lambda agent: (-table.at[agent, "wins"], agent))
    return table.loc[order, [*order, "wins"]]
