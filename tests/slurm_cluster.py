"""Pytest fixture: a real single-node SLURM cluster on this machine.

Not a test module. Use it from a test file or conftest.py with
``pytest_plugins = ["tests.slurm_cluster"]`` (or ``from tests.slurm_cluster import
slurm_cluster``), then request ``slurm_cluster`` in a test.

The fixture runs ``scripts/slurm-local.sh up`` once per session (installs the Debian
packages if needed and starts munged/slurmctld/slurmd) and ``down`` at the end. If
the cluster cannot be brought up (not root, no apt, no network to the package
registry, ...) the requesting tests are skipped with the script's one-line reason.
A cluster that was already up before the session is used and left running.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "slurm-local.sh"
PARTITION = "debug"
# A package install on a fresh machine dominates; a started cluster takes seconds.
UP_TIMEOUT_S = 900


def _run(cmd: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[dict[str, str]]:
    """Yield ``{"partition": "debug", "python": sys.executable}`` of a running cluster."""
    if not sys.platform.startswith("linux") or shutil.which("bash") is None:
        pytest.skip("local SLURM cluster needs Linux with bash")
    if not SCRIPT.is_file():
        pytest.skip(f"{SCRIPT} not found")

    # Already up (a developer's cluster, or a foreign one): use it, do not stop it.
    try:
        already_up = _run("status", timeout=60).returncode == 0
    except subprocess.TimeoutExpired:
        already_up = False

    if not already_up:
        try:
            up = _run("up", timeout=UP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _run("down", timeout=120)
            pytest.skip(f"slurm-local.sh up did not finish within {UP_TIMEOUT_S}s")
        if up.returncode != 0:
            # Stop whatever part of the cluster this attempt did start.
            _run("down", timeout=120)
            pytest.skip(f"local SLURM cluster unavailable: {_last_line(up.stderr + up.stdout)}")

    try:
        yield {"partition": PARTITION, "python": sys.executable}
    finally:
        if not already_up:
            down = _run("down", timeout=120)
            if down.returncode != 0:
                print(
                    f"slurm-local.sh down failed: {_last_line(down.stderr + down.stdout)}",
                    file=sys.stderr,
                )


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
