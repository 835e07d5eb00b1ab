"""Write the report folder: every file is rendered in memory first, then each written atomically."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from epinet_al.io import atomic_write_bytes
from epinet_al.report.compare import Summary, savings_table, summary_table
from epinet_al.report.errors import ReportError
from epinet_al.report.html import render_html
from epinet_al.report.markdown import render_markdown
from epinet_al.report.plots import (
    WIN_MATRIX_PNG,
    agent_colors,
    figure_filename,
    task_figure,
    win_matrix_figure,
)

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
SUMMARY_CSV = "summary.csv"
SAVINGS_CSV = "savings.csv"


def write_report(
    summary: Summary,
    out_dir: Path | str,
    skipped: Mapping[str, str] | None = None,
    flagged: Mapping[str, str] | None = None,
    problems: Mapping[str, list[str]] | None = None,
) -> Path:
    """Write report.md, report.html, one `<task>.png` per task, win_matrix.png, summary.csv and
    savings.csv into `out_dir`.

    skipped: run folder -> why it was left out (runs.Sweep.skipped); report.md counts them.
    flagged: run folder -> why its included result is suspect (runs.Sweep.flagged, a collapsed model).
    problems: task -> the keys in which its runs' data differ (runs.Sweep.problems); both pages say so.
    Rendering everything before writing anything means a failure while plotting leaves the folder
    as it was; report.md goes last, so its presence means the other files are complete.
    Returns the path of report.md. Raises ReportError if `out_dir` cannot be created or written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"output path is not a folder: {out_dir}")
    skipped = dict(skipped or {})
    colors = agent_colors(summary.wins.index)
    files = {figure_filename(task.task): task_figure(task, colors) for task in summary.tasks}
    files[WIN_MATRIX_PNG] = win_matrix_figure(summary.wins)
    files[SUMMARY_CSV] = summary_table(summary).to_csv(index=False).encode()
    files[SAVINGS_CSV] = savings_table(summary).to_csv(index=False).encode()
    files[REPORT_HTML] = render_html(summary, colors, skipped, flagged, problems).encode()
    files[REPORT_MD] = render_markdown(summary, skipped, flagged, problems).encode()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            atomic_write_bytes(out_dir / name, data)
    except OSError as err:
        raise ReportError(f"cannot write the report to {out_dir}: {err.strerror or err}") from err
    return out_dir / REPORT_MD
