"""Command line: `epinet-al-report SWEEP_DIR [--out DIR] [--baseline AGENT] [--metric NAME --mode MODE]
[--wandb PROJECT [--wandb-mode MODE]] [--results FILE]`; `epinet-al-report TUNE_DIR --tune [--seeds SEEDS]` (an
experiment's stage 1: choose each agent's configuration and write stage 2); `epinet-al-report --render FILE...`
(a Markdown table from results files); `epinet-al-report --render-docs FILE...` (the tables of docs files
re-rendered in place from the results files their markers name)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from epinet_al.report.compare import summarize
from epinet_al.report.errors import ReportError
from epinet_al.report.output import write_report
from epinet_al.report.results import render, render_docs, write_results
from epinet_al.report.runs import MODES, load_sweep
from epinet_al.report.tuning import STAGE2_CONFIG, choose, experiment_seeds, stage2_folder, write_stage2
from epinet_al.report.wandb_upload import WANDB_MODES, log_report

PROG = "epinet-al-report"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Compare the agents of a finished sweep: curves, tables and a win matrix.",
    )
    parser.add_argument("sweep_dir", type=Path, nargs="?", metavar="SWEEP_DIR", help="folder holding the run folders")
    parser.add_argument("--out", type=Path, metavar="DIR", help="report folder (default: SWEEP_DIR/report)")
    parser.add_argument(
        "--baseline",
        metavar="AGENT",
        help="agent to measure the others against, its full name as in the report, e.g. epinet/uniform "
        "or 'mlp/uniform [budget.protocol=pool]' (default per task: priority uniform, head mlp if several, "
        "then the settings most runs share)",
    )
    parser.add_argument("--metric", metavar="NAME", help="compare on this split/metric column instead")
    parser.add_argument("--mode", choices=MODES, help="with --metric: whether lower (min) or higher (max) is better")
    parser.add_argument(
        "--tune",
        action="store_true",
        help="SWEEP_DIR is stage 1 of an experiment (a tuning sweep): choose each agent's configuration (the "
        "baseline's per fraction) by --metric/--mode (default: the tune split's primary metric, else the primary "
        "metric) and write stage 2 into the folder 'reported' beside it",
    )
    parser.add_argument(
        "--seeds",
        metavar="SEEDS",
        help="with --tune: the seeds stage 2 reports, a Hydra sweep such as 'range(0,5)' (default: the experiment's)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        metavar="FILE",
        help="also write the comparison's results file (JSON: command, date, machine, tables), e.g. "
        "benchmarks/results/<name>.json",
    )
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="print a Markdown table from results files (no SWEEP_DIR): per file each agent's AUC minus the "
        "baseline's and its final value; one FILE#summary or FILE#savings: that comparison's report table or "
        "savings read-off; FILE#NAME: one of a benchmark's tables",
    )
    parser.add_argument(
        "--render-docs",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="re-render in place the tables of Markdown files between <!-- rendered from RESULTS... --> and "
        "<!-- end rendered --> from those results files (paths from the current folder; no SWEEP_DIR)",
    )
    parser.add_argument(
        "--wandb", metavar="PROJECT", help="also log report.html and the tables to a W&B run in this project"
    )
    parser.add_argument(
        "--wandb-mode",
        choices=WANDB_MODES,
        default="offline",
        help="offline (default: the run goes to <out>/wandb/, `wandb sync` it later) or online",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report; returns the exit code: 0 done, 2 bad input (one line on stderr, no files)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s: %(message)s")
    try:
        if args.render:
            print(render(args.render))
            return 0
        if args.render_docs:
            for path in args.render_docs:
                try:
                    text = path.read_text()
                except OSError as error:
                    raise ReportError(f"cannot read {path}: {error.strerror or error}") from None
                rendered = render_docs(text)
                if rendered != text:
                    path.write_text(rendered)
                    print(f"{path}: tables re-rendered")
            return 0
        if args.sweep_dir is None:
            raise ReportError("give SWEEP_DIR, the folder holding the run folders (or --render FILE...)")
        if args.tune:
            stage2 = write_stage2(choose(args.sweep_dir, args.metric, args.mode), stage2_folder(args.sweep_dir),
                                  args.seeds or experiment_seeds(args.sweep_dir))  # fmt: skip
            print(f"stage 2 written; run it: epinet-al -m --config-dir {stage2} --config-name {STAGE2_CONFIG}")
            return 0
        sweep = load_sweep(args.sweep_dir)
        if sweep.runs.empty:
            skipped = f" ({len(sweep.skipped)} skipped, unfinished or unreadable)" if sweep.skipped else ""
            raise ReportError(f"no finished runs (with summary.json) under {args.sweep_dir}{skipped}")
        summary = summarize(sweep.runs, baseline=args.baseline, metric=args.metric, mode=args.mode)
        out_dir = args.out if args.out is not None else args.sweep_dir / "report"
        report = write_report(summary, out_dir, skipped=sweep.skipped, flagged=sweep.flagged, problems=sweep.problems)
        print(report)
        if args.results is not None:
            print(write_results(summary, args.sweep_dir, args.results))
        if args.wandb is not None:
            print(f"W&B run: {log_report(report.parent, args.wandb, args.wandb_mode, args.sweep_dir.resolve().name)}")
    except ReportError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    return 0
