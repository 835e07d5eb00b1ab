"""Comparison report of a finished sweep: data-efficiency curves, tables and wins per agent.

load_sweep(sweep_dir) -> Sweep (a tidy table of every finished run, agents told apart by their
config, and the runs left out); summarize(sweep.runs) -> Summary (per task a table, seed-mean
curves and the savings read-off, across tasks a win matrix); write_report(summary, out_dir) ->
report.md, report.html, figures and CSV tables.
"""

from epinet_al.report.compare import Band, Summary, TaskSummary, savings_table, summarize, summary_table
from epinet_al.report.errors import ReportError
from epinet_al.report.output import write_report
from epinet_al.report.runs import Sweep, load_sweep

__all__ = [
    "Band",
    "ReportError",
    "Summary",
    "Sweep",
    "TaskSummary",
    "load_sweep",
    "savings_table",
    "summarize",
    "summary_table",
    "write_report",
]
