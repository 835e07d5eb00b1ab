"""The cluster path for real: the smoke sweep submitted as sbatch jobs to a local SLURM cluster.

Needs a running cluster (`make slurm-up`, scripts/slurm-local.sh); the `slurm_cluster` fixture skips
without one. CI brings one up and runs `make test-slurm` (as root on a machine like the development one).
"""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest
import yaml

from tests.slurm_cluster import REPO_ROOT, slurm_cluster, slurm_launcher_overrides  # noqa: F401  (the fixture)
from tests.tiny_configs import SWEEPS_DIR, compose_sweep

pytestmark = pytest.mark.slurm

# Two jobs start in parallel on the node; each imports torch and runs for seconds.
SWEEP_TIMEOUT_S = 300


def test_slurm_preset_requeues_preempted_and_timed_out_jobs():
    launcher = compose_sweep("smoke", ["hydra/launcher=slurm"], return_hydra_config=True).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    # submitit resubmits a job that timed out (up to max_num_timeout times) or was preempted (always),
    # by calling the launcher's checkpoint(): the job reruns from its start into the same folder.
    assert launcher.max_num_timeout > 0


def test_smoke_sweep_runs_as_slurm_jobs(slurm_cluster, tmp_path):  # noqa: F811
    sweep_dir = tmp_path / "smoke"
    command = [
        slurm_cluster["python"], "-m", "epinet_al", "--config-dir", str(SWEEPS_DIR), "--config-name", "smoke", "-m",
        *slurm_launcher_overrides(slurm_cluster, sweep_dir),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=SWEEP_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    job_ids = set()
    for priority in ("uniform", "variance"):
        run_dir = sweep_dir / "testbed" / "identity" / "epinet" / priority / "seed0"
        curve = pd.read_csv(run_dir / "curve.csv")
        assert curve["num_labels"].iloc[-1] == 20  # the smoke budget, spent
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["run"]["agent"] == f"epinet/{priority}"
        assert summary["final"]["num_labels"] == 20
        # Hydra records the SLURM array job id (<array id>_<index>): the job ran through sbatch.
        job_ids.add(yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["id"])
    array_ids = {job_id.split("_")[0] for job_id in job_ids}
    assert len(job_ids) == 2 and len(array_ids) == 1 and next(iter(array_ids)).isdigit(), job_ids
    # submitit keeps each job's sbatch script and logs under the sweep folder.
    assert list((sweep_dir / ".submitit").glob("*/*_log.out"))


def test_the_paper_protocol_runs_both_stages_as_slurm_job_arrays(slurm_cluster, tmp_path):  # noqa: F811
    """The smoke experiment: stage 1 as one array, the tuning at its end, stage 2 as another array."""
    tune, reported = tmp_path / "paper-smoke" / "tune", tmp_path / "paper-smoke" / "reported"
    epinet_al = [slurm_cluster["python"], "-m", "epinet_al", "-m"]
    launcher = slurm_launcher_overrides(slurm_cluster, tune)[:-1]  # stage 2's folder is its report.yaml's
    stage1 = subprocess.run([*epinet_al, "experiment=paper/smoke", *launcher, f"hydra.sweep.dir={tune}"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=2 * SWEEP_TIMEOUT_S)  # fmt: skip
    assert stage1.returncode == 0, stage1.stdout[-3000:] + stage1.stderr[-3000:]
    stage2 = subprocess.run([*epinet_al, "--config-dir", str(reported), "--config-name", "report", *launcher],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=2 * SWEEP_TIMEOUT_S)  # fmt: skip
    assert stage2.returncode == 0, stage2.stdout[-3000:] + stage2.stderr[-3000:]
    for stage, jobs in ((tune, 6), (reported, 8)):
        hydra_files = list(stage.rglob(".hydra/hydra.yaml"))
        job_ids = {yaml.safe_load(path.read_text())["hydra"]["job"]["id"] for path in hydra_files}
        assert len(job_ids) == jobs and len({job_id.split("_")[0] for job_id in job_ids}) == 1, job_ids  # one array
    savings = pd.read_csv(_report(reported) / "savings.csv")
    assert savings["target_labels"].tolist() == [10, 40] * 3


def _report(sweep_dir):
    from epinet_al.report.cli import main as report_main

    assert report_main([str(sweep_dir)]) == 0
    return sweep_dir / "report"
