"""The report as Markdown: per task the figure and the table, then the win matrix."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import pandas as pd

from epinet_al.report.compare import DIAGNOSTICS, Summary, TaskSummary
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
both ran (an interval that excludes 0 is a difference the seeds agree on). *AUC (log labels)*: \
the same average against the logarithm of the labels, each doubling of the labels weighing alike (a \
linear AUC over a range of many doublings is mostly the plateau's). \
Rows are sorted by AUC, best first, the best in bold. Agents are told apart by their whole run \
config: runs whose configs differ in anything but the seed and bookkeeping keys are different \
agents, named `head/priority [key=value, ...]` with the settings that vary on the task."""

SAVINGS_HOW_TO_READ = """\
*Savings read-off*: for each point of the baseline's seed-mean curve (L labels, metric value m), \
each seed of an agent needs some number of labels to reach m on its own curve (linear \
interpolation between evaluation points); its savings is L divided by that number (> 1: fewer \
labels than the baseline). A cell is the mean ± 95% t-interval over the seeds that reach m; \
*k/S never* counts the seeds that never do. The last column is the baseline's final value. \
Every number is in savings.csv."""

WINS_HOW_TO_READ = (
    "Cell (row, column *k*): the number of tasks on which the row agent's AUC is better than that of agent *k* "
    "(tasks that ran both); *wins* is the row total. Columns are numbered as the rows."
)

# Runs listed by name in report.md when some were skipped; the rest are counted.
MAX_LISTED = 20


def render_markdown(
    summary: Summary,
    skipped: Mapping[str, str] | None = None,
    flagged: Mapping[str, str] | None = None,
    problems: Mapping[str, list[str]] | None = None,
) -> str:
    """The whole report.md text; `skipped`: run folder -> why it was left out; `flagged`: run folder ->
    why its (included) result is suspect; `problems`: task -> the keys in which its runs' data differ."""
    parts = ["# Active-learning comparison", counts_line(summary)]
    parts += problems_lines(summary, problems or {})
    if skipped:
        parts.append(skipped_text(skipped))
    if flagged:
        lines = [flagged_title(flagged) + ":"]
        lines += [f"- `{run}`: {reason}" for run, reason in list(flagged.items())[:MAX_LISTED]]
        if len(flagged) > MAX_LISTED:
            lines.append(f"- and {len(flagged) - MAX_LISTED} more")
        parts.append("\n".join(lines))
    parts += [HOW_TO_READ, SAVINGS_HOW_TO_READ]
    parts += [_task_section(task) for task in summary.tasks]
    parts += [
        "## Pairwise wins across tasks",
        WINS_HOW_TO_READ,
        f"![win matrix]({WIN_MATRIX_PNG})",
        _win_table(summary.wins),
    ]
    return "\n\n".join(parts) + "\n"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def counts_line(summary: Summary) -> str:
    """ "8 finished runs of 4 agents on 1 task." """
    runs = sum(int(task.table["seeds"].sum()) for task in summary.tasks)
    agents, tasks = len(summary.wins.index), len(summary.tasks)
    return f"{plural(runs, 'finished run')} of {plural(agents, 'agent')} on {plural(tasks, 'task')}."


def problems_lines(summary: Summary, problems: Mapping[str, list[str]]) -> list[str]:
    """One sentence per task whose runs are on different data (Markdown code marks around the keys)."""
    lines = []
    for task, keys in problems.items():
        count = sum(section.task.startswith(f"{task} [") for section in summary.tasks)
        lines.append(
            f"Task `{task}` ran on {count} different data sets (they differ in {', '.join(f'`{k}`' for k in keys)}): "
            "each is its own section, and nothing is compared across them."
        )
    return lines


def flagged_title(flagged: Mapping[str, str]) -> str:
    return (
        f"**Flagged: {plural(len(flagged), 'run')} whose curve measures little** (included in the tables; "
        "read them with care)"
    )


def skipped_text(skipped: Mapping[str, str]) -> str:
    """ "Skipped: N runs (unfinished or unreadable)" with the counts per reason and the first folders."""
    reasons = Counter(reason.split(":", 1)[0] for reason in skipped.values())
    counts = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
    lines = [f"Skipped: {plural(len(skipped), 'run')} (unfinished or unreadable): {counts}."]
    lines += [f"- `{run}`: {reason}" for run, reason in list(skipped.items())[:MAX_LISTED]]
    if len(skipped) > MAX_LISTED:
        lines.append(f"- and {len(skipped) - MAX_LISTED} more")
    return "\n".join(lines)


def savings_cell(row: pd.Series) -> str:
    """One cell of the savings table: "2.00 ± 0.31×", with "(k/S never)" when seeds never reach."""
    never = int(row["seeds"] - row["reached_seeds"])
    text = number(row["savings_mean"], ".2f")
    if text != MISSING and math.isfinite(row["savings_ci"]):
        text += f" ± {row['savings_ci']:.2f}"
    if text != MISSING:
        text += "×"
    return text if never == 0 else f"{text} ({never}/{int(row['seeds'])} never)"


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
    if task.settings:
        header += (
            "\n\nSettings that differ between this task's agents (shown in their names): "
            + ", ".join(f"`{key}`" for key in task.settings)
            + "."
        )
    table = summary_lines(task.table, task.metric, task.baseline)
    return header + "\n\n" + table + _diagnostics_section(task) + _savings_section(task)


def summary_lines(table: pd.DataFrame, metric: str, baseline: str | None) -> str:
    """The task's table: one row per agent (``table`` indexed by agent, sorted best first, the columns of
    ``compare.summarize``), the best in bold."""
    lines = [
        f"| agent | seeds | final {metric} | labels at final | AUC | AUC − baseline (paired) | AUC (log labels) "
        "| labels to reach | savings |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    best = table.index[0] if math.isfinite(table["auc_mean"].iat[0]) else None
    for agent, row in table.iterrows():
        name = f"**{agent}**" if agent == best else str(agent)
        if agent == baseline:
            name += " (baseline)"
        cells = [
            name,
            str(int(row["seeds"])),
            mean_ci(row["final_mean"], row["final_ci"]),
            number(row["final_labels"], ".0f"),
            mean_ci(row["auc_mean"], row["auc_ci"]),
            mean_ci(row["auc_diff_mean"], row["auc_diff_ci"], signed=True),
            mean_ci(row["auc_log_mean"], row["auc_log_ci"]),
            number(row["labels_to_reach"], ".0f"),
            number(row["savings"], ".2f", suffix="×"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _diagnostics_section(task: TaskSummary) -> str:
    """The selection diagnostics at the final point, one row per agent; left out when no run logged them."""
    frame = diagnostics_rows(task)
    if frame.empty:
        return ""
    lines = [
        f"\n\n{DIAGNOSTICS_CAPTION}",
        "",
        "| " + " | ".join(frame.columns) + " |",
        "|---|" + "--:|" * (len(frame.columns) - 1),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


DIAGNOSTICS_CAPTION = (
    "Selection diagnostics at the final point, mean over seeds (docs/heads_and_priorities.md, "
    '"Diagnostics that speak to selection"):'
)


def diagnostics_rows(task: TaskSummary) -> pd.DataFrame:
    """Agent, then each diagnostic of ``compare.DIAGNOSTICS`` that some agent logged, formatted; empty if none."""
    present = [name for name in DIAGNOSTICS if task.table[name].notna().any()]
    if not present:
        return pd.DataFrame()
    rows = [
        {"agent": str(agent), **{name: number(row[name], ".3f") for name in present}}
        for agent, row in task.table.iterrows()
    ]
    return pd.DataFrame(rows)


def _savings_section(task: TaskSummary) -> str:
    if task.savings.empty:
        return ""
    intro = f"Savings read-off against `{task.baseline}`: columns are its curve points, labels (mean {task.metric})."
    return f"\n\n{intro}\n\n" + savings_lines(task.savings, task.baseline)


def savings_lines(savings: pd.DataFrame, baseline: str | None) -> str:
    """The savings read-off (``compare.TaskSummary.savings``): rows agents, columns the baseline's curve points (labels
    and metric value)."""
    points = savings.drop_duplicates("target_labels")[["target_labels", "target_value"]]
    headers = [f"{labels:g} ({value:.4g})" for labels, value in points.itertuples(index=False)]
    headers[-1] += " final"
    lines = ["| agent | " + " | ".join(headers) + " |", "|---|" + "--:|" * len(headers)]
    for agent, rows in savings.groupby("agent", sort=False):
        name = f"{agent} (baseline)" if agent == baseline else str(agent)
        lines.append(f"| {name} | " + " | ".join(savings_cell(row) for _, row in rows.iterrows()) + " |")
    return "\n".join(lines)


def win_rows(wins: pd.DataFrame) -> pd.DataFrame:
    """The win matrix as table rows: `#`, `agent`, one column per agent by its number (long names as column
    headers made the table several pages wide), `wins`; the diagonal (no comparison) is MISSING."""
    agents = list(wins.index)
    rows = []
    for i, agent in enumerate(agents, start=1):
        cells = {str(j): MISSING if other == agent else str(wins.at[agent, other]) for j, other in enumerate(agents, 1)}
        rows.append({"#": str(i), "agent": agent, **cells, "wins": str(wins.at[agent, "wins"])})
    return pd.DataFrame(rows)


def _win_table(wins: pd.DataFrame) -> str:
    rows = win_rows(wins)
    lines = ["| " + " | ".join(rows.columns) + " |", "|--:|---|" + "--:|" * (len(rows.columns) - 2)]
    lines += ["| " + " | ".join(row) + " |" for row in rows.itertuples(index=False)]
    return "\n".join(lines)


def mean_ci(mean: float, half_width: float, signed: bool = False) -> str:
    if not math.isfinite(mean):
        return MISSING
    text = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    return text if not math.isfinite(half_width) else f"{text} ± {half_width:.4f}"


def number(value: float, spec: str, suffix: str = "") -> str:
    if math.isnan(value):
        return MISSING
    return "∞" if math.isinf(value) else f"{value:{spec}}{suffix}"
