"""The selection diagnostics of finished runs, per agent and label count: mean and 95% t-interval over seeds.

Reads any sweep folder (``epinet_al.report.load_sweep``: agents are told apart by their settings), groups the
curve rows by agent and ``num_labels`` and writes ``benchmarks/results/<name>.json`` (the command, date,
machine and the table's rows) and the markdown table that docs/benchmarks.md shows. Columns are given by name
(``pool/seen_unseen``) or as ``<split>/...`` with the task's primary split filled in.

    python benchmarks/selection_diagnostics.py <sweep folder> --name testbed_diagnostics \
        [--columns pool/seen_unseen ...] [--labels 10 30 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from epinet_al.report import load_sweep
from epinet_al.report.stats import t_interval

RESULTS = Path(__file__).parent / "results"
COLUMNS = [
    "{split}/nll",
    "{split}/joint_nll",
    "{split}/spread",
    "{split}/spread_change",
    "pool/seen_unseen",
    "pool/far_unseen",
    "pool/overlap_entropy",
    "pool/overlap_index",
]


def diagnostics_table(
    runs: pd.DataFrame, columns: list[str], labels: list[int] | None = None, final: bool = False
) -> pd.DataFrame:
    """One row per (agent, num_labels): per column its mean over seeds and the 95% t-interval half-width
    (``<column> ci``), and the seeds; ``{split}`` in a column is the primary metric's split. ``final``: one row
    per agent from each run's last point (``num_labels``: their mean), for runs whose label counts differ."""
    split = runs["metric"].iat[0].split("/")[0]
    names = [column.format(split=split) for column in columns]
    if labels:
        runs = runs[runs["num_labels"].isin(labels)]
    if final:
        runs = runs.groupby("run", sort=False).tail(1).assign(final=True)
    rows = []
    for (agent, num_labels), group in runs.groupby(["agent", "final" if final else "num_labels"], sort=True):
        num_labels = group["num_labels"].mean() if final else num_labels
        row = {"agent": agent, "num_labels": round(num_labels), "seeds": int(group["seed"].nunique())}
        for name in names:
            values = group[name].to_numpy(dtype=float) if name in group else np.array([np.nan])
            values = values[np.isfinite(values)]
            mean, half_width = t_interval(values) if values.size else (np.nan, np.nan)
            row[name], row[f"{name} ci"] = float(mean), float(half_width)
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    names = [c for c in table.columns if c not in ("agent", "num_labels", "seeds") and not c.endswith(" ci")]
    lines = ["| agent | labels | seeds | " + " | ".join(names) + " |", "|---|--:|--:|" + "--:|" * len(names)]
    for _, row in table.iterrows():
        cells = [
            "—"
            if not np.isfinite(row[n])
            else f"{row[n]:.3f}" + (f" ± {row[f'{n} ci']:.3f}" if np.isfinite(row[f"{n} ci"]) else "")
            for n in names
        ]
        lines.append(f"| {row['agent']} | {row['num_labels']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, nargs="+", help="sweep folders (their runs are read together)")
    parser.add_argument("--name", required=True, help="benchmarks/results/<name>.json")
    parser.add_argument("--columns", nargs="+", default=COLUMNS)
    parser.add_argument("--labels", nargs="+", type=int, help="keep only these label counts")
    parser.add_argument("--final", action="store_true", help="each run's last point, one row per agent")
    parser.add_argument("--made-by", nargs="+", default=[], help="the commands that ran the sweeps (recorded)")
    args = parser.parse_args()
    # Several folders: each agent's name starts with its folder's (a variant's sweep names no key it does not vary).
    runs = pd.concat(
        [
            load_sweep(folder).runs.assign(
                agent=lambda r, f=folder: f"{f.name}: " + r["agent"] if len(args.sweep) > 1 else r["agent"]
            )
            for folder in args.sweep
        ],
        ignore_index=True,
    )
    table = diagnostics_table(runs, args.columns, args.labels, args.final)
    text = markdown(table)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    result = {
        "command": "python " + " ".join(sys.argv),
        "runs_made_by": args.made_by,
        "date": date.today().isoformat(),
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "runs": int(runs["run"].nunique()),
        "rows": json.loads(table.to_json(orient="records")),
    }
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
