"""Figures of the report, rendered to PNG bytes.

Figures are built with matplotlib's object API (no pyplot): no global backend or figure registry
is touched, so rendering works headless and leaks nothing between calls.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from epinet_al.report.compare import Band, TaskSummary
from epinet_al.report.stats import savings_error_bars

WIN_MATRIX_PNG = "win_matrix.png"


def figure_filename(task: str) -> str:
    """`<task>.png`, with characters that are unsafe in file names or Markdown links replaced."""
    return re.sub(r"[^\w.-]", "_", task) + ".png"


def agent_colors(agents: Iterable[str]) -> dict[str, tuple[float, ...]]:
    """One color per agent, the same on every task's figure."""
    names = sorted(set(agents))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {agent: cmap(i % cmap.N) for i, agent in enumerate(names)}


def seed_count(seeds: Iterable[int]) -> str:
    """Seed count for titles: "3 seeds", "1 seed", or "2-3 seeds" when agents ran different numbers."""
    counts = sorted(set(seeds))
    if len(counts) > 1:
        return f"{counts[0]}-{counts[-1]} seeds"
    return f"{counts[0]} seed" if counts[0] == 1 else f"{counts[0]} seeds"


def task_figure(task: TaskSummary, colors: dict[str, tuple[float, ...]]) -> bytes:
    """PNG: one panel per metric in `task.bands` (primary first), metric vs labels used, one line
    per agent (seed mean) with its shaded 95% confidence band (clipped to the metric's range), the
    baseline dashed; then, with a baseline, the panel "savings vs target"."""
    panels = len(task.bands) + (not task.savings.empty)
    figure = Figure(figsize=(6.0 * panels, 4.5), layout="constrained")
    # A band needs two seeds: with one seed per agent there is none to name.
    spread = ", mean and 95% CI" if task.table["seeds"].max() > 1 else ""
    figure.suptitle(f"{task.task} ({seed_count(task.table['seeds'])}{spread})")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    for ax, (metric, bands) in zip(axes, task.bands.items(), strict=False):
        for agent, band in bands.items():
            _draw_band(ax, band, agent, colors[agent], dashed=agent == task.baseline)
        ax.set_ylim(*y_limits(bands.values()))
        better = {"min": "lower", "max": "higher"}[task.mode] if metric == task.metric else None
        ax.set_xlabel("labels used")
        ax.set_ylabel(f"{metric} ({better} is better)" if better else metric)
        ax.grid(alpha=0.3)
    if not task.savings.empty:
        _draw_savings(axes[-1], task, colors)
    # One legend under all panels: agent names with their settings are too long for a panel.
    handles, labels = axes[0].get_legend_handles_labels()
    columns = max(1, min(len(labels), int(6.0 * panels * 14 / max(len(label) for label in labels))))
    figure.legend(handles, labels, loc="outside lower center", ncols=columns, fontsize="small")
    return _png(figure)


def _draw_savings(ax: Axes, task: TaskSummary, colors: dict[str, tuple[float, ...]]) -> None:
    """Savings ratio (mean and 95% CI over the seeds that reach it) against the baseline's curve
    value m_i, harder targets to the right; 1 (no savings) as a grey line."""
    for agent, rows in task.savings.groupby("agent", sort=False):
        ax.errorbar(
            rows["target_value"],
            rows["savings_mean"],
            yerr=np.stack(savings_error_bars(rows)),
            color=colors[agent],
            linestyle="--" if agent == task.baseline else "-",
            marker="o",
            markersize=3,
            capsize=2,
        )
    ax.axhline(1.0, color="0.5", linewidth=1)
    if task.mode == "min":
        ax.invert_xaxis()
    ax.set_xlabel(f"target: baseline's mean {task.metric}")
    ax.set_ylabel("savings: baseline's labels / agent's")
    ax.set_title("savings vs target (baseline dashed)", fontsize="medium")
    ax.grid(alpha=0.3)


def win_matrix_figure(wins: pd.DataFrame) -> bytes:
    """PNG heatmap of the win matrix (stats.win_matrix). Rows carry the agents' names with their number and
    total wins; columns only the numbers, so that long names (agents named by their settings) do not take
    the figure, as rotated column labels did."""
    agents = list(wins.index)
    counts = wins[agents].to_numpy()
    size = 1.5 + 0.5 * len(agents)
    labels = [f"{i}. {agent} ({wins.at[agent, 'wins']})" for i, agent in enumerate(agents, start=1)]
    label_inches = 0.075 * max(len(label) for label in labels)
    figure = Figure(figsize=(size + 1.2 + label_inches, size + 0.8), layout="constrained")
    ax = figure.subplots()
    # An agent is not compared with itself: the diagonal is masked and drawn grey.
    off_diagonal = np.ma.masked_where(np.eye(len(agents), dtype=bool), counts)
    image = ax.imshow(off_diagonal, cmap=colormaps["Blues"].with_extremes(bad="0.85"), vmin=0)
    figure.colorbar(image, ax=ax, label="tasks won", ticks=MaxNLocator(integer=True), shrink=0.8)
    for (i, j), count in np.ndenumerate(counts):
        if i != j:
            # White text on the darkest cells, where black would not read.
            dark = counts.max() > 0 and count > 0.6 * counts.max()
            ax.text(j, i, str(count), ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks(range(len(agents)), [str(i) for i in range(1, len(agents) + 1)])
    ax.set_yticks(range(len(agents)), labels)
    ax.set_xlabel("column agent (by number)")
    ax.set_ylabel("row agent (total wins)")
    figure.suptitle("tasks where the row's AUC beats the column's")
    return _png(figure)


def y_limits(bands: Iterable[Band], reach: float = 0.5) -> tuple[float, float]:
    """The y range of a metric panel: every agent's mean curve with a margin, and the bands only up to
    ``reach`` times the means' spread beyond them. One wide band (two seeds far apart at 10 labels) otherwise
    sets the scale, and the curves the panel is about overlap in a strip of it."""
    bands = list(bands)
    means = np.concatenate([band.mean[np.isfinite(band.mean)] for band in bands])
    lower = np.concatenate([band.lower[np.isfinite(band.lower)] for band in bands] + [means])
    upper = np.concatenate([band.upper[np.isfinite(band.upper)] for band in bands] + [means])
    lo, hi = float(means.min()), float(means.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.1
    bottom, top = max(float(lower.min()), lo - reach * span), min(float(upper.max()), hi + reach * span)
    margin = 0.05 * (top - bottom if top > bottom else span)
    return bottom - margin, top + margin


def _draw_band(ax: Axes, band: Band, agent: str, color: tuple[float, ...], dashed: bool) -> None:
    defined = np.isfinite(band.mean)
    # A marker at each evaluation point: between them the line is an interpolation, and where bands overlap
    # the markers tell the agents' means apart.
    ax.plot(
        band.labels[defined],
        band.mean[defined],
        color=color,
        linestyle="--" if dashed else "-",
        marker="o",
        markersize=4,
        label=f"{agent} (baseline)" if dashed else agent,
    )
    shaded = defined & np.isfinite(band.half_width)
    ax.fill_between(
        band.labels[shaded],
        band.lower[shaded],
        band.upper[shaded],
        color=color,
        alpha=0.15,
        linewidth=0,
    )


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()
