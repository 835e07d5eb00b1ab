"""Pytest fixture: the local SLURM cluster, when one is up.

Not a test module. Import ``slurm_cluster`` into a test file and request it in a test.

The fixture only detects a running cluster: ``scontrol ping`` reports the controller UP and
``sinfo`` shows a node of the ``debug`` partition that takes jobs. It never installs packages,
starts daemons or writes system configuration: bringing a cluster up is an explicit step
(``make slurm-up``, i.e. ``scripts/slurm-local.sh up``, as root), which CI runs before
``make test-slurm``. Without a cluster the requesting tests are skipped with that instruction.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTITION = "debug"  # the partition scripts/slurm-local.sh creates
NO_CLUSTER = "no SLURM cluster up: run `make slurm-up` first"
# Node states in which jobs can be scheduled (as scripts/slurm-local.sh waits for).
USABLE_STATES = {"idle", "mixed", "allocated", "completing"}


def _answer(command: list[str]) -> str | None:
    """The command's stdout, or None when it fails or hangs (a controller that does not answer)."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def missing_cluster() -> str | None:
    """Why no cluster can take jobs here, or None when one can."""
    if shutil.which("scontrol") is None or shutil.which("sinfo") is None:
        return f"{NO_CLUSTER} (no scontrol or sinfo on PATH)"
    ping = _answer(["scontrol", "ping"])
    if ping is None or " UP" not in ping:
        return f"{NO_CLUSTER} (scontrol ping: the controller does not answer)"
    states = (_answer(["sinfo", "-h", "-p", PARTITION, "-o", "%T"]) or "").split()
    if not USABLE_STATES.intersection(states):
        return f"{NO_CLUSTER} (partition {PARTITION}: no node takes jobs, states {states or 'none'})"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> dict[str, str]:
    """``{"partition": "debug", "python": sys.executable}`` of the running cluster, else skip."""
    reason = missing_cluster()
    if reason:
        pytest.skip(reason)
    return {"partition": PARTITION, "python": sys.executable}


def slurm_launcher_overrides(cluster: dict, sweep_dir) -> list[str]:
    """Hydra overrides that send a sweep's jobs to the local cluster as small sbatch jobs."""
    return [
        "hydra/launcher=slurm",
        f"hydra.launcher.partition={cluster['partition']}",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=5",
        f"hydra.sweep.dir={sweep_dir}",
    ]
