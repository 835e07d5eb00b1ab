"""A SLURM job requeued mid-run resumes by itself and ends as if it had never stopped.

The job of a one-job sweep (hydra/launcher=slurm) is held at a training step after its first saved
state (tests/held_job/sitecustomize.py), requeued with `scontrol requeue` (SLURM ends it with
SIGTERM, which submitit ignores, then SIGKILL after KillWait, 30 s by default) and let go: the
requeued job runs the same pickled launcher, whose config keeps the sweep folder resolved at
submission (Hydra copies the resolver cache, `${now:...}` included, into each job's config), so it
starts in the same folder, finds state.pt and continues. Its curve.csv must equal an uninterrupted
run's.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

from epinet_al.active_learning.checkpoint import STATE_FILE
from epinet_al.experiment import run_experiment
from epinet_al.tracking.recorder import CURVE_FILE, SUMMARY_FILE
from tests.slurm_cluster import REPO_ROOT, slurm_cluster, slurm_launcher_overrides  # noqa: F401  (the fixture)
from tests.tiny_configs import TINY_PRIORITIZED, experiment_config

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("single_thread")]

HELD_JOB = Path(__file__).with_name("held_job")
HOLD_STEP = 4  # after the evaluation points of steps 2 and 3
JOB_SUBDIR = Path("testbed", "identity", "epinet", "variance", "seed0")
# Submission and a job's start each take seconds; the requeued job waits for the first to be killed.
TIMEOUT_S = 240


def wait_for(condition, what: str, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the sweep ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)


def job_state(job_id: str) -> str:
    squeue = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=60)
    return squeue.stdout.strip()


def test_requeued_job_resumes_in_its_folder(slurm_cluster, tmp_path):  # noqa: F811
    sweep_dir, hold = tmp_path / "sweep", tmp_path / "hold"
    held = Path(f"{hold}.held")
    hold.touch()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HELD_JOB), os.environ.get("PYTHONPATH", "")]),
        "EPINET_AL_HOLD": str(hold),
        "EPINET_AL_HOLD_STEP": str(HOLD_STEP),
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "disabled",
    }
    command = [
        slurm_cluster["python"], "-m", "epinet_al", "-m", *TINY_PRIORITIZED,
        *slurm_launcher_overrides(slurm_cluster, sweep_dir),
    ]  # fmt: skip
    log, job_id = tmp_path / "sweep.log", None
    with log.open("w") as output:
        sweep = subprocess.Popen(command, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        run_dir = sweep_dir / JOB_SUBDIR
        wait_for(lambda: len(held.read_text().split()) == 2 if held.exists() else False, "held job", TIMEOUT_S, sweep)
        assert (run_dir / STATE_FILE).exists() and not (run_dir / SUMMARY_FILE).exists()
        pid, job_id = held.read_text().split()
        subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True, timeout=60)
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), "end of the requeued job", TIMEOUT_S, sweep)
        hold.unlink()  # the requeued job runs through
        wait_for(lambda: job_state(job_id) == "PENDING", "requeued job pending", TIMEOUT_S, sweep)
        # SLURM holds a requeued job back for its credential lifetime (120 s by default): start it now.
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True, timeout=60)
        assert sweep.wait(timeout=TIMEOUT_S) == 0, log.read_text()[-3000:]
    finally:
        hold.unlink(missing_ok=True)
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
        if job_id is not None and sweep.returncode != 0:
            subprocess.run(["scancel", job_id], capture_output=True, timeout=60)

    assert "resuming" in (run_dir / "epinet-al.log").read_text()  # the second start found the saved state
    reference = tmp_path / "reference"
    run_experiment(experiment_config(TINY_PRIORITIZED), reference)
    assert (run_dir / CURVE_FILE).read_bytes() == (reference / CURVE_FILE).read_bytes()
    state, expected = (torch.load(d / STATE_FILE, weights_only=False) for d in (run_dir, reference))
    assert state["ledger"]["order"] == expected["ledger"]["order"]
