"""Multiruns: the ready sweeps of sweeps/ (how many jobs each expands to, which jobs, where they
write), sweeps over any key, group sweeps with group-specific keys, failing jobs that do not stop
the others, reruns into the same sweep folder; the smoke sweep end to end; the Makefile's targets.

Expansion uses epinet_al.sweep_grid on the sweep's own `hydra.sweeper.params`, as `-m` does, without
running anything.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from epinet_al.acquisition import EPISTEMIC_PRIORITIES
from epinet_al.config import ExperimentConfig, to_experiment_config
from epinet_al.networks.specs import HEADS
from epinet_al.report.cli import main as report_main
from epinet_al.run_folder import ERROR_FILE
from epinet_al.sweep_grid import expand as expand_grid
from epinet_al.sweep_grid import force_add_keys_of_swept_groups
from epinet_al.tracking.recorder import SUMMARY_FILE
from tests.cli_runs import run_cli
from tests.slurm_cluster import REPO_ROOT
from tests.tiny_configs import SWEEPS_DIR, TINY_PRIORITIZED, compose_sweep

# Jobs per sweep file: the product of its swept values.
EXPECTED_JOBS = {
    "smoke": 2,  # epinet x {uniform, variance}
    "testbed": 120,  # {epinet, dropout, ensemble} x {uniform, entropy, bald, variance} x 10 seeds
    "testbed_mlp": 20,  # mlp x {uniform, entropy} x 10 seeds
    "glue_priorities": 315,  # 7 tasks x 3 heads x 5 priorities x 3 seeds
    "glue_priorities_mlp": 63,  # 7 tasks x mlp x 3 marginal priorities x 3 seeds
    "glue_minilm": 36,  # {cola, sst2, rte} x epinet x {uniform, entropy, bald, variance} x 3 seeds
    "glue_minilm_mlp": 18,  # {cola, sst2, rte} x mlp x {uniform, entropy} x 3 seeds
    "compare": 4,  # `make run`'s epinet part: 2 priorities x 2 seeds
    "testbed_diagnostics": 30,  # {epinet, ensemble, dropout} x variance x 10 problems
    "sst2_index_agreement": 36,  # {variance, bald, entropy} x 6 index sample counts x 2 seeds
    "sst2_uncertainty": 3,  # the epinet x 3 seeds (the variants and reference heads: command-line overrides)
}
SWEEPS = sorted(f.stem for f in SWEEPS_DIR.glob("*.yaml"))


def sweep_params(name: str) -> dict[str, str]:
    params = compose_sweep(name, [], return_hydra_config=True).hydra.sweeper.params
    return {str(k): str(v) for k, v in (params or {}).items()}


def expand(name: str) -> list[list[str]]:
    """Every job of the sweep as its list of overrides, in launch order."""
    grid = expand_grid(sweep_params(name), [])
    assert grid is not None
    return grid.jobs


def test_every_sweep_has_an_expected_job_count():
    assert set(SWEEPS) == set(EXPECTED_JOBS)


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_expands_to_its_jobs(name):
    jobs = expand(name)
    assert len(jobs) == EXPECTED_JOBS[name]
    assert len({tuple(sorted(job)) for job in jobs}) == len(jobs)  # no job twice
    for job in (jobs[0], jobs[-1]):
        assert isinstance(to_experiment_config(compose_sweep(name, job), devices=False), ExperimentConfig), job


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_jobs_write_to_readable_folders(name):
    job = expand(name)[-1]
    cfg = compose_sweep(name, job, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # for ${hydra:job.override_dirname}, as a job has it
    run = to_experiment_config(compose_sweep(name, job), devices=False)
    # Swept keys other than those in the path appear between priority and seed (Hydra's override_dirname).
    in_path = {"task", "model", "head", "acquisition", "acquisition.priority", "seed"}
    others = ",".join(sorted(o for o in job if o.split("=")[0] not in in_path))
    middle = f"{others}/" if others else ""
    expected = f"{run.task.name}/{run.model.name}/{run.head.name}/{run.acquisition.priority}/{middle}seed{run.seed}"
    assert os.path.normpath(OmegaConf.select(cfg, "hydra.sweep.subdir")) == expected
    # The sweep's name is the first folder under multirun/ and the W&B group's prefix.
    assert OmegaConf.select(cfg, "hydra.sweep.dir").startswith(f"multirun/{run.sweep}/")


@pytest.mark.slow
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


@pytest.mark.slow
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


# ---------------------------------------------------------------- any key, any grid


def test_grid_is_the_full_product_and_the_command_line_wins():
    grid = expand_grid(
        {"head": "epinet,mlp", "seed": "0,1"}, ["seed=5", "acquisition=uniform,bald", "budget.max_labels=9"]
    )
    assert len(grid.jobs) == 4  # 2 heads x 2 priorities; seed 5 replaces the file's seeds
    assert grid.swept == ["head", "acquisition"] and grid.fixed == ["seed", "budget.max_labels"]
    assert grid.jobs[1] == ["head=epinet", "seed=5", "acquisition=bald", "budget.max_labels=9"]
    assert grid.label(grid.jobs[1]) == "head=epinet acquisition=bald"


def test_keys_of_a_swept_group_are_force_added():
    groups = {"task", "model", "head"}
    overrides = ["task=sst2,cola", "task.max_pool_size=200", "model.finetune=frozen", "+task.x=1", "seed=0,1"]
    assert force_add_keys_of_swept_groups(overrides, {}, groups) == [
        "task=sst2,cola",
        "++task.max_pool_size=200",
        "model.finetune=frozen",
        "+task.x=1",
        "seed=0,1",
    ]
    # A group swept by the sweep file counts too.
    assert force_add_keys_of_swept_groups(["model.finetune=full"], {"model": "tiny,minilm"}, groups) == [
        "++model.finetune=full"
    ]


def test_group_sweep_with_a_key_only_its_options_have_composes_every_job(tmp_path):
    # Hydra composes a multirun's base config with the default task (testbed), which has no
    # max_pool_size: before the fix this failed with "Key 'max_pool_size' not in 'TestbedTaskConfig'".
    from epinet_al.cli import _plan_sweep, parse_command

    _, command = parse_command(
        ["-m", "task=sst2,cola", "model=minilm", "task.max_pool_size=200", f"hydra.sweep.dir={tmp_path}"]
    )
    sweep_dir, _, _, jobs = _plan_sweep(command)
    assert [job.invalid for job in jobs] == [None, None]
    assert [job.folder.relative_to(sweep_dir).as_posix() for job in jobs] == [
        "sst2/minilm/epinet/variance/seed0",
        "cola/minilm/epinet/variance/seed0",
    ]


def summaries(sweep_dir: Path) -> dict[str, float]:
    """Job folder (relative) -> mtime of its summary.json."""
    return {str(p.parent.relative_to(sweep_dir)): p.stat().st_mtime_ns for p in sweep_dir.rglob(SUMMARY_FILE)}


TINIER = [*TINY_PRIORITIZED, "head.index_dim=4", "budget.max_steps=10", "budget.eval_labels=[20]"]


def test_sweep_over_keys_outside_the_folder_path_gives_every_job_its_own_folder(tmp_path):
    # Before: every job mapped to testbed/identity/epinet/variance/seed0 and job 2 refused to "resume".
    from epinet_al.cli import _plan_sweep, parse_command

    sweep = ["trainer.optimizer.lr=0.001,0.01", "budget=prioritized,pool", f"hydra.sweep.dir={tmp_path}"]
    sweep_dir, _, _, jobs = _plan_sweep(parse_command(["-m", "budget.max_labels=20", *sweep])[1])
    assert [job.folder.relative_to(sweep_dir).as_posix() for job in jobs] == [
        f"testbed/identity/epinet/variance/{keys}/seed0"
        for keys in (
            "budget=prioritized,trainer.optimizer.lr=0.001",
            "budget=pool,trainer.optimizer.lr=0.001",
            "budget=prioritized,trainer.optimizer.lr=0.01",
            "budget=pool,trainer.optimizer.lr=0.01",
        )
    ]  # budget.max_labels, given once, is left out


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread")
def test_sweep_over_keys_outside_the_folder_path_runs_every_job_into_its_own_folder(tmp_path, monkeypatch, capsys):
    sweep = ["trainer.optimizer.lr=0.001,0.01", "head.prior_scale=0.3,1,3", "seed=0,1"]
    result = run_cli(["-m", *TINIER, *sweep, f"hydra.sweep.dir={tmp_path}"], monkeypatch, capsys)
    assert result.code == 0, result.stderr[-3000:]
    folders = sorted(summaries(tmp_path))
    assert len(folders) == 12
    assert "testbed/identity/epinet/variance/head.prior_scale=0.3,trainer.optimizer.lr=0.01/seed1" in folders
    assert "epinet-al: 12 finished, 0 failed" in result.stderr
    assert f"compare the runs: epinet-al-report {tmp_path}" in result.stdout


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread")
def test_a_failing_job_does_not_stop_the_jobs_after_it(tmp_path, monkeypatch, capsys):
    # Before: the first failing job ended the command, and the jobs after it never ran.
    result = run_cli(
        [
            "-m",
            *TINY_PRIORITIZED,
            "budget.max_steps=10",
            "head=mlp",
            "acquisition=bald,uniform",
            f"hydra.sweep.dir={tmp_path}",
        ],
        monkeypatch,
        capsys,
    )
    assert result.code == 1
    assert list(summaries(tmp_path)) == ["testbed/identity/mlp/uniform/seed0"]
    assert (tmp_path / "testbed/identity/mlp/bald/seed0" / ERROR_FILE).is_file()
    assert "epinet-al: 1 finished, 1 failed" in result.stderr


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread")
def test_a_failing_job_does_not_stop_the_sweep_and_a_rerun_finishes_only_what_is_missing(tmp_path, monkeypatch, capsys):
    # head.index_dim would be an unknown key of the mlp and dropout heads: those jobs would be invalid.
    tinier = [o for o in TINIER if not o.startswith("head.index_dim")]
    command = ["-m", *tinier, "head=epinet,mlp,dropout", "acquisition=uniform,bald", f"hydra.sweep.dir={tmp_path}"]
    result = run_cli(command, monkeypatch, capsys)
    assert result.code == 1
    finished = summaries(tmp_path)
    assert sorted(finished) == sorted(
        f"testbed/identity/{head}/{priority}/seed0"
        for head, priority in [
            ("epinet", "uniform"),
            ("epinet", "bald"),
            ("mlp", "uniform"),
            ("dropout", "uniform"),
            ("dropout", "bald"),
        ]
    )
    failed = tmp_path / "testbed/identity/mlp/bald/seed0"
    reason = "priority 'bald' needs a head with an epistemic index, but head 'mlp' has none"
    assert (failed / ERROR_FILE).read_text().startswith(reason) and "Traceback" in (failed / ERROR_FILE).read_text()
    assert "epinet-al: 5 finished, 1 failed" in result.stderr
    assert f"epinet-al: failed job head=mlp acquisition=bald: {reason}" in result.stderr

    rerun = run_cli(command, monkeypatch, capsys)
    assert rerun.code == 1 and "epinet-al: 5 finished, 1 failed" in rerun.stderr
    assert summaries(tmp_path) == finished  # finished jobs untouched


def test_jobs_that_would_share_a_folder_are_refused(tmp_path, monkeypatch, capsys):
    command = ["-m", *TINIER, "seed=0,1", "hydra.sweep.subdir=same", f"hydra.sweep.dir={tmp_path / 's'}"]
    result = run_cli(command, monkeypatch, capsys)
    assert result.code == 2
    assert result.error == f"jobs seed=0 and seed=1 would write one folder, {tmp_path / 's' / 'same'}"
    assert not (tmp_path / "s").exists()
