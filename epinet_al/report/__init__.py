"""Comparison report of a finished sweep: data-efficiency curves, tables and wins per agent.

load_runs(sweep_dir) -> tidy table of every finished run; summarize(runs) -> Summary (per task a
table and seed-mean curves, across tasks a win matrix); write_report(summary, out_dir) -> report.md.
"""

from epinet_al.report.compare import Band, Summary, TaskSummary, summarize, summary_table
from epinet_al.report.errors import ReportError
from epinet_al.report.output import write_report
from epinet_al.report.runs import load_runs

__all__ = [
    "Band",
    "ReportError",
    "Summary",
    "TaskSummary",
    "load_runs",
    "summarize",
    "summary_table",
    "write_report",
]
