"""The ready sweeps of sweeps/: how many jobs each expands to, which jobs, where they write; the smoke
sweep end to end with the basic launcher; the Makefile's sweep and report targets.

Expansion uses Hydra's BasicSweeper on the sweep's own `hydra.sweeper.params`, as `-m` does, without
running anything.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from epinet_al.acquisition import EPISTEMIC_PRIORITIES
from epinet_al.config import ExperimentConfig, to_experiment_config
from epinet_al.networks.specs import HEADS
from epinet_al.report.cli import main as report_main
from tests.slurm_cluster import REPO_ROOT
from tests.tiny_configs import SWEEPS_DIR, compose_sweep

# Jobs per sweep file: the product of its swept values.
EXPECTED_JOBS = {
    "smoke": 2,  # epinet x {uniform, variance}
    "testbed": 120,  # {epinet, dropout, ensemble} x {uniform, entropy, bald, variance} x 10 seeds
    "testbed_mlp": 20,  # mlp x {uniform, entropy} x 10 seeds
    "glue_priorities": 315,  # 7 tasks x 3 heads x 5 priorities x 3 seeds
    "glue_priorities_mlp": 63,  # 7 tasks x mlp x 3 marginal priorities x 3 seeds
    "glue_minilm": 36,  # {cola, sst2, rte} x epinet x {uniform, entropy, bald, variance} x 3 seeds
    "glue_minilm_mlp": 18,  # {cola, sst2, rte} x mlp x {uniform, entropy} x 3 seeds
    "compare": 15,  # the lead's `make run` grid: epinet x 5 priorities x 3 seeds
}
SWEEPS = sorted(f.stem for f in SWEEPS_DIR.glob("*.yaml"))
# The job folder is <task>/<model>/<head>/<priority>/seed<seed>: a swept key outside these would make
# two jobs write into one folder.
FOLDER_KEYS = {"task", "model", "head", "acquisition", "seed"}


def sweep_params(name: str) -> dict[str, str]:
    params = compose_sweep(name, [], return_hydra_config=True).hydra.sweeper.params
    return {str(k): str(v) for k, v in (params or {}).items()}


def expand(name: str) -> list[list[str]]:
    """Every job of the sweep as its list of overrides, in launch order."""
    overrides = [f"{key}={value}" for key, value in sweep_params(name).items()]
    (batch,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(overrides), max_batch_size=None)
    return batch


def test_every_sweep_has_an_expected_job_count():
    assert set(SWEEPS) == set(EXPECTED_JOBS)


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_expands_to_its_jobs(name):
    jobs = expand(name)
    assert len(jobs) == EXPECTED_JOBS[name]
    assert len({tuple(sorted(job)) for job in jobs}) == len(jobs)  # no job twice
    for job in (jobs[0], jobs[-1]):
        assert isinstance(to_experiment_config(compose_sweep(name, job), devices=False), ExperimentConfig), job


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_jobs_write_to_readable_distinct_folders(name):
    assert set(sweep_params(name)) <= FOLDER_KEYS
    job = expand(name)[-1]
    cfg = compose_sweep(name, job, return_hydra_config=True)
    run = to_experiment_config(compose_sweep(name, job), devices=False)
    expected = f"{run.task.name}/{run.model.name}/{run.head.name}/{run.acquisition.priority}/seed{run.seed}"
    assert OmegaConf.select(cfg, "hydra.sweep.subdir") == expected
    # The sweep's name is the first folder under multirun/ and the W&B group's prefix.
    assert OmegaConf.select(cfg, "hydra.sweep.dir").startswith(f"multirun/{run.sweep}/")


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_pairs_epistemic_priorities_with_index_heads(name):
    # An epistemic priority on a head without an index is refused (its scores are all 0):
    # a sweep must not contain that pair, so the plain head lives in the <sweep>_mlp part.
    params = sweep_params(name)
    base = to_experiment_config(compose_sweep(name, []), devices=False)
    heads = params["head"].split(",") if "head" in params else [base.head.name]
    priorities = params["acquisition"].split(",") if "acquisition" in params else [base.acquisition.priority]
    for head in heads:
        if not HEADS.get(head).has_index:
            assert not EPISTEMIC_PRIORITIES & set(priorities), (head, priorities)


def test_plain_head_parts_share_their_sweep():
    for part in SWEEPS_DIR.glob("*_mlp.yaml"):
        main = part.stem.removesuffix("_mlp")
        assert to_experiment_config(compose_sweep(part.stem, []), devices=False).sweep == main
        assert set(sweep_params(part.stem)) == set(sweep_params(main))


def test_glue_priorities_is_a_gpu_slurm_sweep():
    cfg = compose_sweep("glue_priorities", [], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.gpus_per_node == 1
    run = to_experiment_config(compose_sweep("glue_priorities", []), devices=False)  # the GPUs are the nodes'
    assert (run.model.name, run.trainer.accelerator) == ("bert_base", "gpu")
    assert math.prod(len(v.split(",")) for v in sweep_params("glue_priorities").values()) == 315


@pytest.mark.slow
def test_smoke_sweep_runs_end_to_end_and_the_report_reads_it(tmp_path):
    sweep_dir = tmp_path / "smoke"
    command = [sys.executable, "-m", "epinet_al", "--config-dir", str(SWEEPS_DIR), "--config-name", "smoke", "-m"]
    result = subprocess.run(
        [*command, f"hydra.sweep.dir={sweep_dir}"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for priority in ("uniform", "variance"):
        run_dir = sweep_dir / "testbed" / "identity" / "epinet" / priority / "seed0"
        assert (run_dir / "curve.csv").read_text().startswith("step,num_labels,")
        assert json.loads((run_dir / "summary.json").read_text())["run"]["sweep"] == "smoke"

    assert report_main([str(sweep_dir)]) == 0
    report = (sweep_dir / "report" / "report.md").read_text()
    assert "epinet/variance" in report and "epinet/uniform" in report


def make_dry_run(target: str, cwd, *variables: str) -> str:
    """The commands `make <target>` would run (the virtualenv is taken as set up)."""
    command = ["make", "-f", str(REPO_ROOT / "Makefile"), "--dry-run", "-o", ".venv/.installed-stamp", target]
    result = subprocess.run([*command, *variables], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_sweep_runs_both_parts_into_one_folder():
    commands = make_dry_run("sweep", REPO_ROOT, "SWEEP=testbed")
    assert "for config in testbed testbed_mlp;" in commands
    assert "hydra.sweep.dir=$dir" in commands and "dir=multirun/testbed/$(date" in commands
    assert "hydra/launcher=slurm" in make_dry_run("sweep-slurm", REPO_ROOT, "SWEEP=smoke")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_report_reads_the_newest_sweep_folder(tmp_path):
    for stamp in ("2026-01-02_09-00-00", "2026-01-10_08-00-00", "2026-01-03_23-59-59"):
        (tmp_path / "multirun" / "demo" / stamp).mkdir(parents=True)
    assert "epinet-al-report multirun/demo/2026-01-10_08-00-00/" in make_dry_run("report", tmp_path, "SWEEP=demo")
    explicit = make_dry_run("report", tmp_path, "SWEEP=demo", "SWEEP_DIR=elsewhere")
    assert "epinet-al-report elsewhere" in explicit
