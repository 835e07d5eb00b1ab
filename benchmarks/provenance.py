"""What every results file of a benchmark starts with: when, by which command, on which machine and versions."""

from __future__ import annotations

import os
import platform
import sys
from datetime import date
from typing import Any

import torch


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
