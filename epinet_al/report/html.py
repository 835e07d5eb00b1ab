"""The report as one self-contained interactive HTML page (report.html).

Per task: the acquisition curves of each metric (plotly: one trace per agent with its clipped 95%
band, legend clicks toggle an agent, hover shows the values), the savings-vs-target curve, and the
tables of report.md as HTML. plotly.js is inlined once, so the page needs no network.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from epinet_al.report.compare import Band, Summary, TaskSummary
from epinet_al.report.markdown import (
    HOW_TO_READ,
    MISSING,
    SAVINGS_HOW_TO_READ,
    WINS_HOW_TO_READ,
    counts_line,
    flagged_title,
    mean_ci,
    number,
    plural,
    problems_lines,
    savings_cell,
    win_rows,
)
from epinet_al.report.stats import savings_error_bars

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
p.note { color: #555; font-size: 0.9em; }
.warn { background: #fff4e5; border-left: 4px solid #e8a33d; padding: 0.3em 0.8em; }
"""


def render_html(
    summary: Summary,
    colors: Mapping[str, tuple[float, ...]],
    skipped: Mapping[str, str],
    flagged: Mapping[str, str] | None = None,
    problems: Mapping[str, list[str]] | None = None,
) -> str:
    """The whole report.html text; colors: agent -> RGBA in [0, 1], as in the PNG figures. `flagged` and
    `problems` as in report.md (markdown.render_markdown)."""
    figures = _Figures()
    parts = header(summary, skipped, flagged or {}, problems or {})
    parts += [
        f'<p class="note">{_e(_plain(HOW_TO_READ))}</p>',
        f'<p class="note">{_e(_plain(SAVINGS_HOW_TO_READ))}</p>',
    ]
    parts += [_task_section(task, colors, figures) for task in summary.tasks]
    parts += [
        '<h2 id="wins">Pairwise wins across tasks</h2>',
        f"<p>{_e(_plain(WINS_HOW_TO_READ))}</p>",
        _e_table(win_rows(summary.wins)),
    ]
    body = "\n".join(parts)
    head = f'<meta charset="utf-8">\n<title>Active-learning comparison</title>\n<style>{STYLE}</style>'
    return f'<!DOCTYPE html>\n<html lang="en">\n<head>\n{head}\n</head>\n<body>\n{body}\n</body>\n</html>\n'


def header(
    summary: Summary, skipped: Mapping[str, str], flagged: Mapping[str, str], problems: Mapping[str, list[str]]
) -> list[str]:
    """The page's top, before the figures: the counts, the split tasks, flagged and skipped runs, the contents."""
    parts = ["<h1>Active-learning comparison</h1>", f"<p>{_e(counts_line(summary))}</p>"]
    parts += [f'<p class="warn">{_inline(line)}</p>' for line in problems_lines(summary, problems)]
    if flagged:
        items = "".join(f"<li><code>{_e(run)}</code>: {_e(reason)}</li>" for run, reason in flagged.items())
        parts.append(f'<div class="warn"><p>{_inline(flagged_title(flagged))}:</p><ul>{items}</ul></div>')
    if skipped:
        items = "".join(f"<li><code>{_e(run)}</code>: {_e(reason)}</li>" for run, reason in skipped.items())
        parts.append(f"<details><summary>Skipped: {plural(len(skipped), 'run')} (unfinished or unreadable)</summary>"
                     f"<ul>{items}</ul></details>")  # fmt: skip
    parts.append("<ul>" + "".join(f'<li><a href="#{_anchor(t.task)}">{_e(t.task)}</a></li>' for t in summary.tasks))
    parts[-1] += '<li><a href="#wins">pairwise wins</a></li></ul>'
    return parts


# Height of one legend entry, in pixels (plotly's default font).
_LEGEND_LINE = 21


class _Figures:
    """Turns plotly figures into <div>s; plotly.js goes inline into the first one only."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, figure: go.Figure) -> str:
        self.count += 1
        return figure.to_html(
            full_html=False,
            include_plotlyjs=self.count == 1,
            # A fixed id keeps the page the same from one report to the next.
            div_id=f"figure-{self.count}",
            config={"displaylogo": False, "responsive": True},
        )


def _task_section(task: TaskSummary, colors: Mapping[str, tuple[float, ...]], figures: _Figures) -> str:
    direction = "lower" if task.mode == "min" else "higher"
    baseline = f"<code>{_e(task.baseline)}</code>" if task.baseline else "none (no agent with priority uniform)"
    lo, hi = task.auc_range
    parts = [
        f'<h2 id="{_anchor(task.task)}">{_e(task.task)}</h2>',
        f"<p>Primary metric <code>{_e(task.metric)}</code> ({direction} is better); baseline {baseline}; "
        f"{len(task.table)} agents; AUC over labels {lo:g}-{hi:g}.</p>",
    ]
    if task.settings:
        keys = ", ".join(f"<code>{_e(k)}</code>" for k in task.settings)
        parts.append(f"<p>Settings that differ between this task's agents (shown in their names): {keys}.</p>")
    for metric, bands in task.bands.items():
        parts.append(figures.div(_curves_figure(task, metric, bands, colors)))
    parts.append(_e_table(_summary_rows(task)))
    if not task.savings.empty:
        parts.append(figures.div(_savings_figure(task, colors)))
        parts.append(f"<p>Savings read-off against <code>{_e(task.baseline)}</code>: columns are its curve "
                     f"points, labels (mean {_e(task.metric)}).</p>")  # fmt: skip
        parts.append(_e_table(_savings_rows(task)))
    return "\n".join(parts)


def _curves_figure(
    task: TaskSummary, metric: str, bands: Mapping[str, Band], colors: Mapping[str, tuple[float, ...]]
) -> go.Figure:
    """Metric vs labels used: per agent a band trace (no legend entry) and a mean trace, one legend group."""
    figure = go.Figure()
    for agent, band in bands.items():
        baseline = agent == task.baseline
        defined = np.isfinite(band.mean)
        shaded = defined & np.isfinite(band.half_width)
        if shaded.any():
            x = band.labels[shaded]
            figure.add_trace(
                go.Scatter(
                    x=np.concatenate([x, x[::-1]]),
                    y=np.concatenate([band.upper[shaded], band.lower[shaded][::-1]]),
                    mode="lines",  # plotly would add markers to a short trace
                    fill="toself",
                    fillcolor=_rgba(colors[agent], 0.2),
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=agent,
                    name=f"{agent} 95% band",
                )
            )
        figure.add_trace(
            go.Scatter(
                x=band.labels[defined],
                y=band.mean[defined],
                mode="lines+markers",
                name=f"{agent} (baseline)" if baseline else agent,
                legendgroup=agent,
                line={"color": _rgba(colors[agent], 1.0), "dash": "dash" if baseline else "solid"},
                marker={"size": 4},
                customdata=np.stack([band.lower[defined], band.upper[defined]], axis=1),
                hovertemplate=f"{_e(agent)}<br>labels %{{x}}<br>{_e(metric)} %{{y:.4f}}"
                f"<br>95% band %{{customdata[0]:.4f}} to %{{customdata[1]:.4f}}<br>{band.seeds} seeds<extra></extra>",
            )
        )
    better = {"min": "lower", "max": "higher"}[task.mode] if metric == task.metric else None
    figure.update_layout(
        title=f"{task.task}: {metric} vs labels used (mean and 95% CI over seeds)",
        xaxis_title="labels used",
        yaxis_title=f"{metric} ({better} is better)" if better else metric,
        hovermode="closest",
        template="plotly_white",
        **_legend_below(len(bands), 450),
    )
    return figure


def _legend_below(entries: int, plot_height: int) -> dict:
    """Layout keys that put the legend under the plot, one entry per line: agent names with their settings
    run to 150 characters, and a legend on the right squeezed the plots to about 70 px. The figure grows by
    the legend's height, so the plot keeps ``plot_height``."""
    return {
        "legend": {"orientation": "v", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0},
        "height": plot_height + _LEGEND_LINE * entries,
        "margin": {"b": 60 + _LEGEND_LINE * entries},
    }


def _savings_figure(task: TaskSummary, colors: Mapping[str, tuple[float, ...]]) -> go.Figure:
    figure = go.Figure()
    for agent, rows in task.savings.groupby("agent", sort=False):
        baseline = agent == task.baseline
        below, above = savings_error_bars(rows)
        figure.add_trace(
            go.Scatter(
                x=rows["target_value"],
                y=rows["savings_mean"],
                error_y={
                    "type": "data",
                    "visible": True,
                    "arrayminus": below,
                    "array": above,
                },
                mode="lines+markers",
                name=f"{agent} (baseline)" if baseline else agent,
                line={"color": _rgba(colors[agent], 1.0), "dash": "dash" if baseline else "solid"},
                customdata=np.stack([rows["target_labels"], rows["reached_seeds"], rows["seeds"]], axis=1),
                hovertemplate=f"{_e(agent)}<br>target %{{x:.4f}} (baseline at %{{customdata[0]}} labels)"
                "<br>savings %{y:.2f}×<br>reached by %{customdata[1]} of %{customdata[2]} seeds<extra></extra>",
            )
        )
    figure.add_hline(y=1.0, line={"color": "grey", "width": 1})
    figure.update_layout(
        title=f"{task.task}: savings vs target (against {task.baseline})",
        xaxis={
            "title": f"target: baseline's mean {task.metric}",
            "autorange": "reversed" if task.mode == "min" else True,
        },
        yaxis_title="savings (labels ratio)",
        template="plotly_white",
        **_legend_below(task.savings["agent"].nunique(), 420),
    )
    return figure


def _summary_rows(task: TaskSummary) -> pd.DataFrame:
    rows = []
    for agent, row in task.table.iterrows():
        rows.append(
            {
                "agent": f"{agent} (baseline)" if agent == task.baseline else agent,
                "seeds": str(int(row["seeds"])),
                f"final {task.metric}": mean_ci(row["final_mean"], row["final_ci"]),
                "labels at final": number(row["final_labels"], ".0f"),
                "AUC": mean_ci(row["auc_mean"], row["auc_ci"]),
                "AUC − baseline (paired)": mean_ci(row["auc_diff_mean"], row["auc_diff_ci"], signed=True),
                "labels to reach": number(row["labels_to_reach"], ".0f"),
                "savings": number(row["savings"], ".2f", suffix="×"),
            }
        )
    return pd.DataFrame(rows)


def _savings_rows(task: TaskSummary) -> pd.DataFrame:
    points = task.savings.drop_duplicates("target_labels")[["target_labels", "target_value"]]
    headers = [f"{labels:g} ({value:.4g})" for labels, value in points.itertuples(index=False)]
    headers[-1] += " final"
    rows = []
    for agent, group in task.savings.groupby("agent", sort=False):
        cells = [savings_cell(row) for _, row in group.iterrows()]
        rows.append(
            {
                "agent": f"{agent} (baseline)" if agent == task.baseline else agent,
                **dict(zip(headers, cells, strict=True)),
            }
        )
    return pd.DataFrame(rows)


def _e_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, escape=True, na_rep=MISSING)


def _e(text: object) -> str:
    return html.escape(str(text))


def _inline(markdown: str) -> str:
    """Escaped text with Markdown's `code` and **strong** marks as HTML."""
    text = re.sub(r"`([^`]*)`", r"<code>\1</code>", _e(markdown))
    return re.sub(r"\*\*([^*]*)\*\*", r"<strong>\1</strong>", text)


def _plain(markdown: str) -> str:
    """Markdown emphasis and code marks dropped, for the page's explanatory paragraphs."""
    return re.sub(r"[*`]", "", markdown)


def _anchor(task: str) -> str:
    return "task-" + re.sub(r"[^\w-]", "_", task)


def _rgba(color: tuple[float, ...], alpha: float) -> str:
    r, g, b = (round(255 * c) for c in color[:3])
    return f"rgba({r},{g},{b},{alpha})"
