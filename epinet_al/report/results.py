"""A comparison's results file (``benchmarks/results/<name>.json``) and the docs tables rendered from them.

``epinet-al-report SWEEP_DIR --results FILE`` writes the file: the command, the sweeps' commands (both stages of
an experiment), date and machine, the tuning's record when the sweep is an experiment's stage 2, and per task its
table (the report's summary.csv rows) and its savings read-off. ``epinet-al-report --render FILE [FILE ...]``
prints a Markdown table from such files, one column pair per file: each agent's AUC minus the baseline's (paired)
and its final value with its labels; the baseline's row gives its AUC. A micro-benchmark's results file (one of
benchmarks/*.py) holds its table itself, ``"table": {"columns": [...], "rows": [[...], ...], "notes": [...]}``
(or a list of such tables, each with a ``"name"``), and renders as that table. A file named as ``FILE#VIEW`` renders
one view of one file: a comparison's ``#summary`` (the report's table of its first task: final value, AUC, paired
difference, labels to reach, savings) or ``#savings`` (its savings read-off at every point of the baseline's curve),
a benchmark's ``#<name>`` (that one of its tables). The benchmark tables in docs/ are this output, each naming the
files it came from, between markers that ``render_docs`` (``epinet-al-report --render-docs FILE``) fills in
place::

    <!-- rendered from benchmarks/results/<name>.json[#view] [...] -->
    ...
    <!-- end rendered -->
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from epinet_al.report.compare import Summary, savings_table, summary_table
from epinet_al.report.errors import ReportError
from epinet_al.report.markdown import savings_lines, summary_lines
from epinet_al.report.tuning import TUNING_FILE

MISSING = "—"
# The views of one comparison file (FILE#VIEW); the numeric columns of each, read back as floats (null: NaN).
VIEWS = {
    "summary": ["seeds", "final_mean", "final_ci", "final_labels", "auc_mean", "auc_ci", "auc_diff_mean", "auc_diff_ci",
                "auc_log_mean", "auc_log_ci", "labels_to_reach", "savings"],
    "savings": ["target_labels", "target_value", "labels_mean", "labels_ci", "savings_mean", "savings_ci",
                "reached_seeds", "seeds"],
}  # fmt: skip


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def _records(frame: Any) -> list[dict[str, Any]]:
    """Table rows as JSON objects (NaN as null)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in json.loads(frame.to_json(orient="records"))]  # fmt: skip


def sweep_command(sweep_dir: Path) -> str | None:
    """The `epinet-al -m` command that ran the sweep in ``sweep_dir`` (its last one), from its multirun.yaml."""
    path = Path(sweep_dir) / "multirun.yaml"
    if not path.is_file():
        return None
    hydra = OmegaConf.load(path).hydra
    sources = [s.path.removeprefix("file://") for s in hydra.runtime.config_sources if s.provider == "command-line"]
    options = ["--config-dir", sources[0]] if sources else []
    options += ["--config-name", hydra.job.config_name] if hydra.job.config_name != "config" else []
    # What Hydra (-m) and SweepChecks (the folder names) add is no part of what the user typed.
    added = ("hydra.mode=", "hydra.job.config.override_dirname.exclude_keys=")
    overrides = [str(o) for o in [*hydra.overrides.hydra, *hydra.overrides.task] if not str(o).startswith(added)]
    return shlex.join(["epinet-al", "-m", *options, *overrides])


def write_results(summary: Summary, sweep_dir: Path, path: Path) -> Path:
    """The results file of the comparison of ``sweep_dir``'s runs; its path."""
    tuning = Path(sweep_dir) / TUNING_FILE
    table, savings = summary_table(summary), savings_table(summary)
    tuned_on = OmegaConf.load(tuning).tuned_on if tuning.is_file() else None
    stages = [command for command in (tuned_on and sweep_command(Path(tuned_on)), sweep_command(sweep_dir))
              if command]  # fmt: skip
    record = {
        "name": Path(path).stem,
        "command": " ".join(["epinet-al-report", *sys.argv[1:]]),
        "sweeps": stages,  # the commands that ran the runs: stage 1 and stage 2 of an experiment
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "sweep": str(Path(sweep_dir).resolve()),
        "tuning": OmegaConf.to_container(OmegaConf.load(tuning)) if tuning.is_file() else None,
        "tasks": [
            {
                "task": task.task,
                "metric": task.metric,
                "mode": task.mode,
                "baseline": task.baseline,
                "auc_range": list(task.auc_range),
                "rows": _records(table[table["task"] == task.task]),
                "savings": _records(savings[savings["task"] == task.task]),
            }
            for task in summary.tasks
        ],
    }
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1) + "\n")
    except OSError as error:
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def _number(value: float | None, digits: int = 3, sign: bool = False) -> str:
    return MISSING if value is None else f"{value:{'+' if sign else ''}.{digits}f}"


def _interval(mean: float | None, ci: float | None, sign: bool = False) -> str:
    text = _number(mean, sign=sign)
    return text if ci is None or mean is None else f"{text} ± {ci:.3f}"


def _load(path: Path, root: Path) -> dict[str, Any]:
    try:
        record = json.loads((root / path).read_text())
        if not (isinstance(record, dict) and ("table" in record or record.get("tasks"))):
            raise ValueError("neither a table nor tasks")
        return record
    except (OSError, ValueError) as error:
        raise ReportError(
            f"{path} is not a results file of epinet-al-report --results or of a benchmark ({error})"
        ) from None


def _sources(paths: list[Path]) -> str:
    return ", ".join(f"`{Path(path).as_posix()}`" for path in paths)


def render(paths: list[Path], root: Path = Path()) -> str:
    """A Markdown table from results files (read below ``root``, named as given, each maybe with a ``#view``): a
    comparison's (one column pair per file), one view of one file, or a micro-benchmark's own table (one file)."""
    named = [_view_of(Path(path)) for path in paths]
    records = [_load(path, root) for path, _ in named]
    if any("table" in record for record in records) or any(view for _, view in named):
        if len(records) != 1:
            raise ReportError(f"a benchmark's table or a view is rendered from one results file, not {_sources(paths)}")
        (path, view), record = named[0], records[0]
        return _benchmark(record, path, view) if "table" in record else _comparison_view(record, path, view)
    return _comparison([(Path(path).stem, record["tasks"][0]) for path, record in zip(paths, records, strict=True)],
                       paths)  # fmt: skip


def _view_of(path: Path) -> tuple[Path, str | None]:
    """``FILE#VIEW`` -> (FILE, VIEW); a plain file has no view."""
    file, _, view = path.as_posix().partition("#")
    return Path(file), view or None


def _comparison_view(record: dict[str, Any], path: Path, view: str | None) -> str:
    """The ``#summary`` or ``#savings`` table of a comparison's first task, as the report shows it."""
    if view not in VIEWS:
        raise ReportError(f"unknown view #{view} of {path}; valid views of a comparison: {', '.join(VIEWS)}")
    task = record["tasks"][0]
    frame = pd.DataFrame(task["rows" if view == "summary" else "savings"])
    for column in VIEWS[view]:
        frame[column] = pd.to_numeric(frame.get(column), errors="coerce")
    if view == "summary":
        lo, hi = task["auc_range"]
        table = summary_lines(frame.set_index("agent"), task["metric"], task["baseline"])
        caption = f"Metric {task['metric']} ({task['mode']}), AUC over labels {lo:g}-{hi:g}"
    else:
        table = savings_lines(frame, task["baseline"])
        caption = f"Savings read-off against `{task['baseline']}` at its curve's points, labels (mean {task['metric']})"
    source = _sources([Path(f"{path}#{view}")])
    return f"{table}\n\n{caption}; rendered by `epinet-al-report --render` from {source}."


def _cell(value: Any) -> str:
    if value is None:
        return MISSING
    return f"{value:,}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _numeric(value: Any) -> bool:
    """A cell that reads as a number ("1.018 [0.944–1.288]", "40 (1.00x)"): right-aligned."""
    return value is None or isinstance(value, (int, float)) or str(value)[:1] in "0123456789+-−"


def _benchmark(record: dict[str, Any], path: Path, view: str | None = None) -> str:
    """A micro-benchmark's table (or list of tables; ``view``: the one of that name) as its script wrote it, numbers
    right-aligned, each followed by its notes; then the file it came from."""
    tables = record["table"] if isinstance(record["table"], list) else [record["table"]]
    if view is not None:
        names = [str(table.get("name")) for table in tables]
        if view not in names:
            raise ReportError(f"{path} has no table #{view}; its tables: {', '.join(names)}")
        tables = [tables[names.index(view)]]
    parts = []
    for table in tables:
        columns, rows = table["columns"], table["rows"]
        numeric = [all(_numeric(row[i]) for row in rows) for i in range(len(columns))]
        lines = [
            "| " + " | ".join(columns) + " |",
            "|" + "|".join("--:" if n and i else "---" for i, n in enumerate(numeric)) + "|",
        ]
        lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
        parts += ["\n".join(lines), *table.get("notes", [])]
    source = _sources([Path(f"{path}#{view}") if view else path])
    source = f"Rendered by `epinet-al-report --render` from {source} (`{record['command']}`, {record['date']})."
    return "\n\n".join([*parts, source])


def _comparison(records: list[tuple[str, dict[str, Any]]], paths: list[Path]) -> str:
    """The comparisons' first task: agents as rows, two columns per file."""
    agents = list(dict.fromkeys(row["agent"] for _, task in records for row in task["rows"]))
    head = ["agent"] + [f"{name}: {column}" for name, _ in records for column in ("AUC − baseline", "final (labels)")]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for agent in agents:
        cells = [agent]
        for _, task in records:
            row = next((row for row in task["rows"] if row["agent"] == agent), None)
            if row is None:
                cells += [MISSING, MISSING]
                continue
            auc = (f"{_interval(row['auc_mean'], row['auc_ci'])} (AUC)" if row["baseline"]
                   else _interval(row["auc_diff_mean"], row["auc_diff_ci"], sign=True))  # fmt: skip
            cells += [auc, f"{_number(row['final_mean'])} ({row['final_labels']:.0f})"]
        lines.append("| " + " | ".join(cells) + " |")
    metrics = ", ".join(sorted({f"{task['metric']} ({task['mode']})" for _, task in records}))
    return "\n".join([*lines, "", f"Metric {metrics}; rendered by `epinet-al-report --render` from {_sources(paths)}."])


_BLOCK = re.compile(r"(<!-- rendered from (?P<paths>[^>]+?) -->\n)(?P<body>.*?)(<!-- end rendered -->)", re.DOTALL)


def render_docs(text: str, root: Path = Path()) -> str:
    """``text`` with every block between ``<!-- rendered from FILE... -->`` and ``<!-- end rendered -->``
    replaced by the rendering of those results files (read below ``root``)."""

    def block(match: re.Match[str]) -> str:
        paths = [Path(path) for path in match["paths"].split()]
        return f"{match[1]}\n{render(paths, root)}\n\n{match[4]}"

    return _BLOCK.sub(block, text)
