"""The selection diagnostics of finished runs, per agent and label count: mean and 95% t-interval over seeds.

Reads any sweep folder (``epinet_al.report.load_sweep``: agents are told apart by their settings), groups the
curve rows by agent and ``num_labels`` and writes ``benchmarks/results/<name>.json``: the command, date, machine,
the rows, and the tables docs/benchmarks.md renders from them (``--tables``: ``rows``, every row; ``gate``, the SST-2
search's gate; ``agreement``, the selection overlap per number of index samples; ``heads`` and ``paired``, the
training recipe's; ``scales``, the L2-scale grid). Columns are given by name
(``pool/seen_unseen``) or as ``<split>/...`` with the task's primary split filled in.

    python benchmarks/selection_diagnostics.py <sweep folder> --name testbed_diagnostics \
        [--columns pool/seen_unseen ...] [--labels 10 30 100] [--tables rows gate]
    python benchmarks/selection_diagnostics.py --retable benchmarks/results/<name>.json   # tables from its rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from epinet_al.report import load_sweep
from epinet_al.report.stats import t_interval
from epinet_al.uncertainty import COLLAPSE_MAJORITY

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


PAIRED_NOT_FINAL = "--paired compares per label count: not with --final (each run's last point)"


def diagnostics_table(
    runs: pd.DataFrame,
    columns: list[str],
    labels: list[int] | None = None,
    final: bool = False,
    paired: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """One row per (agent, num_labels): per column its mean over seeds and the 95% t-interval half-width
    (``<column> ci``), and the seeds; ``{split}`` in a column is the primary metric's split. ``final``: one row
    per agent from each run's last point (``num_labels``: their mean), for runs whose label counts differ.
    ``paired`` (an agent whose name ends with the first, a column): the column's difference, that agent minus this
    one on the same seed, mean and interval over the seeds both ran (``<reference> - agent: <column>``)."""
    if paired and final:
        raise ValueError(PAIRED_NOT_FINAL)
    split = runs["metric"].iat[0].split("/")[0]
    names = [column.format(split=split) for column in columns]
    runs = _with_one_class(runs, names)
    differences = _paired_differences(runs, paired[0], paired[1].format(split=split)) if paired else None
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
        if differences is not None:
            name, by_seed = differences
            values = by_seed.get((agent, num_labels), np.array([]))
            mean, half_width = t_interval(values) if values.size else (np.nan, np.nan)
            row[name], row[f"{name} ci"] = float(mean), float(half_width)
        rows.append(row)
    return pd.DataFrame(rows)


def _with_one_class(runs: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``<split>/one_class``, a column derived per point: 1 where the most predicted class covers at least
    COLLAPSE_MAJORITY of the split, as the run's own ``one_class`` flag, which reads only its last point and the primary
    split; its mean over the seeds is the share of fits that predict one class."""
    for name in names:
        split, _, column = name.partition("/")
        if column == "one_class" and f"{split}/majority_fraction" in runs:
            fraction = runs[f"{split}/majority_fraction"]
            runs = runs.assign(**{name: (fraction >= COLLAPSE_MAJORITY).astype(float).where(fraction.notna())})
    return runs


def _paired_differences(
    runs: pd.DataFrame, reference: str, column: str
) -> tuple[str, dict[tuple[str, int], np.ndarray]]:
    """(name, (agent, num_labels) -> the reference's ``column`` minus the agent's, one value per seed both ran)."""
    matches = sorted({agent for agent in runs["agent"] if agent.endswith(reference)})
    if len(matches) != 1:
        raise SystemExit(
            f"--paired {reference}: {len(matches)} agents end with it; agents: {sorted(set(runs['agent']))}"
        )
    values = runs.set_index(["agent", "num_labels", "seed"])[column]
    ref = values.xs(matches[0], level="agent")
    by_seed = {}
    for (agent, num_labels), group in values.groupby(level=["agent", "num_labels"]):
        if agent == matches[0]:
            continue
        mine = group.droplevel(["agent", "num_labels"])
        theirs = ref.xs(num_labels, level="num_labels") if num_labels in ref.index.get_level_values(0) else None
        if theirs is not None:
            common = mine.index.intersection(theirs.index)
            by_seed[(agent, int(num_labels))] = (theirs[common] - mine[common]).dropna().to_numpy(dtype=float)
    return f"{matches[0]} - agent: {column}", by_seed


def _mean_ci(row: dict, name: str, digits: int = 3) -> str | None:
    mean, half_width = row.get(name), row.get(f"{name} ci")
    if mean is None or not np.isfinite(mean):
        return None
    text = f"{mean:.{digits}f}"
    return text if half_width is None or not np.isfinite(half_width) else f"{text} ± {half_width:.{digits}f}"


def rows_table(rows: list[dict]) -> dict:
    """Every row: agent, labels, seeds, then each column's mean ± 95% t-interval over the seeds."""
    names = [c for c in rows[0] if c not in ("agent", "num_labels", "seeds") and not c.endswith(" ci")]
    return {
        "name": "rows",
        "columns": ["agent", "labels", "seeds", *names],
        "rows": [[row["agent"], row["num_labels"], row["seeds"], *(_mean_ci(row, n) for n in names)] for row in rows],
        "notes": ["Mean ± 95% t-interval over the seeds; no interval: some seeds had none (a head without a spread)."],
    }


# The SST-2 search's gate (docs/benchmarks.md, "The SST-2 search"): the references it is calibrated on, and the
# contraction it asks for (the testbed's epinet contracts 0.88 from 30 to 100 labels).
GATE_CONTRAST, GATE_LOG_LOSS, GATE_CONTRACTION = "ensemble/variance", "mlp/entropy", 0.9


def gate_table(rows: list[dict]) -> dict:
    """Per agent at the smallest and the largest label count: contrast (a seen/unseen ratio at most the ensemble's at
    both), contraction (the tune spread at the largest count at most GATE_CONTRACTION of that at the smallest),
    selection (an overlap with entropy below the noise floor at both), log-loss (a tune log-loss no worse than the
    plain head's at both). Means over the seeds."""
    frame = pd.DataFrame(rows).set_index(["agent", "num_labels"])
    labels = sorted(frame.index.get_level_values("num_labels").unique())
    small, large = labels[0], labels[-1]
    agents = list(dict.fromkeys(frame.index.get_level_values("agent")))

    def reference(suffix: str) -> str:
        return next(agent for agent in agents if agent.endswith(suffix))

    def at(agent: str, labels: int, name: str) -> np.float64:
        return np.float64(frame.at[(agent, labels), name])  # 0 / 0 is NaN (a head without a spread), not an error

    ensemble, plain = reference(GATE_CONTRAST), reference(GATE_LOG_LOSS)

    def at_both(agent: str, name: str, passes: Callable[[np.float64, np.float64], bool], other: str) -> bool:
        """Whether ``passes(agent's value, other's value)`` of column ``name`` holds at both sizes."""
        return all(passes(at(agent, n, name), at(other, n, name)) for n in (small, large))

    table = []
    for agent in agents:
        with np.errstate(invalid="ignore"):
            contraction = at(agent, large, "tune/spread") / at(agent, small, "tune/spread")
        gates = [
            at_both(agent, "pool/seen_unseen", np.less_equal, ensemble),
            contraction <= GATE_CONTRACTION,
            all(at(agent, n, "pool/overlap_entropy") < at(agent, n, "pool/overlap_index") for n in (small, large)),
            at_both(agent, "tune/nll", np.less_equal, plain),
        ]
        table.append([
            agent,
            " / ".join(_number(at(agent, n, "pool/seen_unseen")) for n in (small, large)),
            _number(at(agent, large, "pool/priority_seen_unseen")),
            _number(contraction),
            f"{_number(at(agent, large, 'pool/overlap_entropy'))} / {_number(at(agent, large, 'pool/overlap_index'))}",
            " / ".join(_number(at(agent, n, "tune/nll")) for n in (small, large)),
            *("yes" if gate else "no" for gate in gates),
        ])  # fmt: skip
    return {
        "name": "gate",
        "columns": [
            "head / variant",
            f"seen/unseen at {small:,} / {large:,}",
            f"priority seen/unseen at {large:,}",
            f"tune spread {large:,} / {small:,}",
            f"overlap with entropy / noise floor at {large:,}",
            f"tune nll at {small:,} / {large:,}",
            "contrast",
            "contraction",
            "selection",
            "log-loss",
        ],
        "rows": table,
        "notes": [
            f"Gates: contrast, seen/unseen at most {ensemble}'s at both sizes; contraction, tune spread at {large:,} "
            f"at most {GATE_CONTRACTION} of that at {small:,}; selection, overlap with entropy below the noise floor "
            f"(two index draws) at both sizes; log-loss, tune nll no worse than {plain}'s at both sizes. Means over "
            "the seeds."
        ],
    }


def agreement_table(rows: list[dict]) -> dict:
    """``pool/overlap_index`` (two index draws select this share of the same candidates) per number of index
    samples A (rows) and agent (columns; agents named ``head/priority [acquisition.num_index_samples=A]``)."""
    cells: dict[str, dict[int, str | None]] = {}
    for row in rows:
        match = re.fullmatch(r"(.*) \[acquisition\.num_index_samples=(\d+)\]", row["agent"])
        assert match, f"agent {row['agent']!r} names no acquisition.num_index_samples"
        cells.setdefault(match[1], {})[int(match[2])] = _number(row["pool/overlap_index"], 2)
    samples = sorted({a for by_a in cells.values() for a in by_a})
    return {
        "name": "agreement",
        "columns": ["A", *cells],
        "rows": [[a, *(by_a.get(a) for by_a in cells.values())] for a in samples],
        "notes": [f"Mean over {rows[0]['seeds']} seeds of the share of the top candidates both draws select."],
    }


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def heads_table(rows: list[dict]) -> dict:
    """The training recipe's table (docs/benchmarks.md): per agent, at each label count, the test log-loss (per
    input), joint log-loss (per batch of tau inputs, as curve.csv logs it) and accuracy, the first two with their 95%
    t-intervals over the seeds."""
    labels = sorted({row["num_labels"] for row in rows})
    split = next(name.split("/")[0] for name in rows[0] if name.endswith("/joint_nll"))
    by_agent: dict[str, dict[int, dict]] = {}
    for row in rows:
        by_agent.setdefault(row["agent"], {})[row["num_labels"]] = row

    def cell(row: dict | None) -> str | None:
        if row is None:
            return None
        parts = [_compact(row, f"{split}/nll"), _compact(row, f"{split}/joint_nll"), _number(row[f"{split}/acc"])]
        return " / ".join(parts)

    return {
        "name": "heads",
        "columns": ["head", *(f"N={n} nll / joint / acc" for n in labels)],
        "rows": [[agent.split("/")[0], *(cell(points.get(n)) for n in labels)] for agent, points in by_agent.items()],
        "notes": [
            f"Mean ± 95% t-interval over {rows[0]['seeds']} problems (seeds); accuracy: the mean. nll: the marginal "
            f"log-loss per input; joint: {split}/joint_nll, the log-loss of a batch of tau inputs (the testbed's "
            "tau = 10: divide by 10 to compare it with nll)."
        ],
    }


def paired_table(rows: list[dict]) -> dict:
    """The ``paired`` differences of the rows (``--paired``): one row per agent, a column per label count."""
    name = next(c for c in rows[0] if " - agent: " in c and not c.endswith(" ci"))
    reference = name.split(" - agent: ")[0]
    labels = sorted({row["num_labels"] for row in rows})
    cells: dict[str, dict[int, str | None]] = {}
    for row in rows:
        if row["agent"] != reference:
            cells.setdefault(row["agent"], {})[row["num_labels"]] = _mean_ci(row, name)
    return {
        "name": "paired",
        "columns": ["vs", *(f"N={n}" for n in labels)],
        "rows": [[agent.split("/")[0], *(by_n.get(n) for n in labels)] for agent, by_n in cells.items()],
        "notes": [f"{name}: mean ± 95% t-interval of the paired differences over the seeds (negative: "
                  f"{reference.split('/')[0]} lower)."],
    }  # fmt: skip


def scales_table(rows: list[dict]) -> dict:
    """The L2-scale grid (agents named ``head/priority [head.l2_scale=s]``): per head and scale, the tune log-loss at
    each label count and its mean over them, the test accuracy at each, and the fits (seeds x label counts) that
    predict one class on the tune split. Chosen per head: the best mean tune log-loss among its scales with no such
    fit (a scale that flattens the head at few labels is no default, however well it does with many)."""
    labels = sorted({row["num_labels"] for row in rows})
    split = next(name.split("/")[0] for name in rows[0] if name.endswith("/acc") and not name.startswith("tune/"))
    grid: dict[tuple[str, float], dict[int, dict]] = {}
    for row in rows:
        match = re.fullmatch(r"(.*) \[head\.l2_scale=([^\]]+)\]", row["agent"])
        assert match, f"agent {row['agent']!r} names no head.l2_scale"
        grid.setdefault((match[1].split("/")[0], float(match[2])), {})[row["num_labels"]] = row
    entries = []
    for (head, scale), by_n in grid.items():
        nll = [by_n[n]["tune/nll"] if n in by_n else np.nan for n in labels]
        one_class = sum(round(row["tune/one_class"] * row["seeds"]) for row in by_n.values())
        entries.append((head, scale, by_n, nll, float(np.mean(nll)), one_class))
    chosen: dict[str, tuple[float, float]] = {}
    for head, scale, _, _, mean, one_class in entries:
        if one_class == 0 and np.isfinite(mean) and (head not in chosen or mean < chosen[head][1]):
            chosen[head] = (scale, mean)
    table = [
        [
            head,
            f"{scale:g}",
            " / ".join(_number(value) for value in nll),
            _number(mean),
            " / ".join(_number(by_n[n][f"{split}/acc"]) if n in by_n else "—" for n in labels),
            f"{one_class} of {sum(row['seeds'] for row in by_n.values())}",
            "yes" if chosen.get(head, (None,))[0] == scale else "",
        ]
        for head, scale, by_n, nll, mean, one_class in sorted(entries, key=lambda entry: entry[:2])
    ]
    sizes = " / ".join(f"{n:,}" for n in labels)
    seeds = sorted({row["seeds"] for row in rows})  # fewer where a run had not finished (load_sweep skips it)
    over = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    return {
        "name": "scales",
        "columns": [
            "head",
            "l2_scale",
            f"tune nll at {sizes}",
            "mean",
            f"{split} acc at {sizes}",
            "one-class fits",
            "chosen",
        ],
        "rows": table,
        "notes": [
            f"Means over {over} seeds. One-class fits: the most predicted class covers at least "
            f"{COLLAPSE_MAJORITY:.0%} of the tune split. Chosen: per head, the best mean tune log-loss among its "
            "scales with no one-class fit."
        ],
    }


def _compact(row: dict, name: str) -> str:
    """mean±ci with 3 decimals, as the recipe table writes them."""
    mean, half_width = row[name], row.get(f"{name} ci")
    if half_width is None or not np.isfinite(half_width):
        return _number(mean)
    return f"{mean:.3f}±{half_width:.3f}"


TABLES = {"rows": rows_table, "gate": gate_table, "agreement": agreement_table, "heads": heads_table,
          "paired": paired_table, "scales": scales_table}  # fmt: skip


def tables(rows: list[dict], names: list[str]) -> list[dict]:
    return [TABLES[name](rows) for name in names]


def load_runs(folders: list[Path]) -> pd.DataFrame:
    """Every run of the sweep folders. Several folders: each agent's name and each run's id start with its folder's
    path below their common parent (a variant's sweep names no key it does not vary; the experiments' stage-2 folders
    are all called `reported`; two settings of one task hold runs at the same paths inside their folders)."""
    if len(folders) == 1:
        return load_sweep(folders[0]).runs
    common = os.path.commonpath([folder.resolve() for folder in folders])
    frames = []
    for folder in folders:
        name = Path(os.path.relpath(folder.resolve(), common)).as_posix()
        runs = load_sweep(folder).runs
        frames.append(runs.assign(agent=f"{name}: " + runs["agent"], run=f"{name}/" + runs["run"].astype(str)))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, nargs="*", help="sweep folders (their runs are read together)")
    parser.add_argument("--name", help="benchmarks/results/<name>.json")
    parser.add_argument("--columns", nargs="+", default=COLUMNS)
    parser.add_argument("--labels", nargs="+", type=int, help="keep only these label counts")
    parser.add_argument("--final", action="store_true", help="each run's last point, one row per agent")
    parser.add_argument("--paired", nargs=2, metavar=("AGENT", "COLUMN"),
                        help="a column's paired difference, AGENT (a name's end) minus each agent")  # fmt: skip
    parser.add_argument("--made-by", nargs="+", default=[], help="the commands that ran the sweeps (recorded)")
    parser.add_argument("--tables", nargs="+", default=["rows"], choices=list(TABLES), help="the tables to write")
    parser.add_argument("--retable", type=Path, help="a results file: rewrite its tables from its rows (no runs read)")
    args = parser.parse_args()
    if args.retable:
        result = json.loads(args.retable.read_text())
        result["table"] = tables(result["rows"], [table["name"] for table in result["table"]])
        args.retable.write_text(json.dumps(result, indent=1) + "\n")
        return
    if not args.sweep or not args.name:
        parser.error("give the sweep folders and --name (or --retable FILE)")
    if args.paired and args.final:
        parser.error(PAIRED_NOT_FINAL)  # before the sweeps load, as diagnostics_table would refuse after
    runs = load_runs(args.sweep)
    paired = tuple(args.paired) if args.paired else None
    rows = json.loads(diagnostics_table(runs, args.columns, args.labels, args.final, paired).to_json(orient="records"))
    RESULTS.mkdir(exist_ok=True)
    result = {
        "command": "python " + " ".join(sys.argv),
        "runs_made_by": args.made_by,
        "date": date.today().isoformat(),
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "runs": int(runs["run"].nunique()),
        "rows": rows,
        "table": tables(rows, args.tables),
    }
    path = RESULTS / f"{args.name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}; render its tables with epinet-al-report --render {path}")


if __name__ == "__main__":
    main()
