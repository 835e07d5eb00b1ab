"""The report as Markdown: per task the figure and the table, then the win matrix."""

from __future__ import annotations

import math

import pandas as pd

from epinet_al.report.compare import Summary, TaskSummary
from epinet_al.report.plots import WIN_MATRIX_PNG, figure_filename, seed_count

MISSING = "—"

HOW_TO_READ = """\
How to read the tables. Each number is a mean over seeds with the half-width of its 95% \
t-interval (± is left out with one seed). *Final*: the metric at each seed's last evaluation, \
reached after *labels at final* labels. *AUC*: the area under the curve of metric vs labels used \
over the label range every run of the task covers, divided by that range, i.e. the average \
metric value over it. *Labels to reach*: the first label count at which the agent's seed-mean \
curve reaches the baseline's mean final value (linear interpolation between evaluation points; \
computed on the seed-mean curve, not per seed; — = never). *Savings*: the baseline's labels to \
reach its own mean final value divided by the agent's (> 1: the agent needs fewer labels). \
*AUC − baseline (paired)*: the agent's AUC minus the baseline's on the same seed, over the seeds \
both ran (an interval that excludes 0 is a difference the seeds agree on). \
Rows are sorted by AUC, best first, the best in bold."""


def render_markdown(summary: Summary) -> str:
    """The whole report.md text."""
    agents = summary.wins.index
    runs = sum(int(task.table["seeds"].sum()) for task in summary.tasks)
    parts = [
        "# Active-learning comparison",
        f"{runs} finished runs of {len(agents)} agents on {len(summary.tasks)} tasks.",
        HOW_TO_READ,
    ]
    parts += [_task_section(task) for task in summary.tasks]
    parts += [
        "## Pairwise wins across tasks",
        "Cell (row, column): the number of tasks on which the row agent's AUC is better than the "
        "column agent's (tasks that ran both); *wins* is the row total.",
        f"![win matrix]({WIN_MATRIX_PNG})",
        _win_table(summary.wins),
    ]
    return "\n\n".join(parts) + "\n"


def _task_section(task: TaskSummary) -> str:
    direction = "lower" if task.mode == "min" else "higher"
    baseline = f"`{task.baseline}`" if task.baseline else "none (no agent with priority uniform)"
    lo, hi = task.auc_range
    header = (
        f"## {task.task}\n\n"
        f"Primary metric `{task.metric}` ({direction} is better); baseline {baseline}; "
        f"{len(task.table)} agents, {seed_count(task.table['seeds'])}; AUC over labels {lo:g}-{hi:g}.\n\n"
        f"![{task.task}]({figure_filename(task.task)})"
    )
    lines = [
        f"| agent | seeds | final {task.metric} | labels at final | AUC | AUC − baseline (paired) | labels to reach "
        "| savings |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    best = task.table.index[0] if math.isfinite(task.table["auc_mean"].iat[0]) else None
    for agent, row in task.table.iterrows():
        name = f"**{agent}**" if agent == best else str(agent)
        if agent == task.baseline:
            name += " (baseline)"
        cells = [
            name,
            str(int(row["seeds"])),
            _mean_ci(row["final_mean"], row["final_ci"]),
            _number(row["final_labels"], ".0f"),
            _mean_ci(row["auc_mean"], row["auc_ci"]),
            _mean_ci(row["auc_diff_mean"], row["auc_diff_ci"], signed=True),
            _number(row["labels_to_reach"], ".0f"),
            _number(row["savings"], ".2f", suffix="×"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return header + "\n\n" + "\n".join(lines)


def _win_table(wins: pd.DataFrame) -> str:
    agents = list(wins.index)
    lines = ["| agent | " + " | ".join(agents) + " | wins |", "|---|" + "--:|" * (len(agents) + 1)]
    for agent in agents:
        cells = [MISSING if other == agent else str(wins.at[agent, other]) for other in agents]
        lines.append(f"| {agent} | " + " | ".join(cells) + f" | {wins.at[agent, 'wins']} |")
    return "\n".join(lines)


def _mean_ci(mean: float, half_width: float, signed: bool = False) -> str:
    if not math.isfinite(mean):
        return MISSING
    text = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    return text if not math.isfinite(half_width) else f"{text} ± {half_width:.4f}"


def _number(value: float, spec: str, suffix: str = "") -> str:
    if math.isnan(value):
        return MISSING
    return "∞" if math.isinf(value) else f"{value:{spec}}{suffix}"
