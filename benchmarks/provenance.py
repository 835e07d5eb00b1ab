"""What every results file of a benchmark starts with (when, by which command, on which machine and versions),
and how it is written: with the table docs/benchmarks.md renders from it (``epinet-al-report --render``)."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import date
from pathlib import Path
from typing import Any

import torch

from epinet_al.report.results import render


def provenance(load_start: tuple[float, float, float]) -> dict[str, Any]:
    """Date, command, machine (CPUs, torch threads, load average at the start and now) and versions."""
    return {
        "date": date.today().isoformat(),
        "command": "python " + " ".join(sys.argv),
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
        },
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }


def write_results(results: dict[str, Any], table: dict[str, Any] | list[dict[str, Any]], out: Path) -> None:
    """Write ``results`` with its ``table`` (columns, rows, notes; or a list of such tables) to ``out`` and print
    it as rendered. ``results`` starts with ``provenance(...)``: the rendering names the command and the date."""
    missing = [key for key in ("date", "command") if key not in results]
    if missing:
        raise ValueError(f"the results for {out} lack {', '.join(missing)}: start them with provenance(...)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**results, "table": table}, indent=2) + "\n")
    print(f"\n{render([out])}\n\nwrote {out}; `make docs-tables` renders it into docs/benchmarks.md")
