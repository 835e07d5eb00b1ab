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
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, read_write

from epinet_al.config import ExperimentConfig, to_experiment_config
from epinet_al.hydra_callbacks import plan_sweep
from epinet_al.report.cli import main as report_main
from epinet_al.run_folder import ERROR_FILE, is_locked, lock, unlock
from epinet_al.sweep_grid import expand as expand_grid
from epinet_al.tracking.recorder import SUMMARY_FILE
from tests.cli_runs import run_cli
from tests.slurm_cluster import REPO_ROOT
from tests.tiny_configs import CONF_DIR, SWEEPS_DIR, TINY_PRIORITIZED, compose_sweep

# Jobs per sweep file: the product of its swept values.
EXPECTED_JOBS = {
    "smoke": 2,  # epinet x {uniform, variance}
    "testbed": 140,  # ({epinet, dropout, ensemble} x {uniform, entropy, bald, variance} + mlp x 2) x 10 seeds
    "glue_priorities": 378,  # 7 tasks x (3 heads x 5 priorities + mlp x 3 marginal priorities) x 3 seeds
    "glue_minilm": 54,  # {cola, sst2, rte} x (epinet x {uniform, entropy, bald, variance} + mlp x 2) x 3 seeds
    "compare": 8,  # `make run`: (epinet x 2 priorities + mlp x 2) x 2 seeds
    "testbed_pool": 180,  # 18 agents (every head with every priority it supports) x 10 seeds
    "testbed_recipe": 40,  # 4 heads with uniform x 10 seeds
    "testbed_diagnostics": 30,  # {epinet, ensemble, dropout} x variance x 10 problems
    "sst2_index_agreement": 36,  # {variance, bald, entropy} x 6 index sample counts x 2 seeds
    "sst2_uncertainty": 3,  # the epinet x 3 seeds (the variants and reference heads: command-line overrides)
    "sst2_l2_scale": 72,  # {mlp, epinet, dropout, ensemble} x 6 L2 scales x 3 seeds
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
    in_path = set(cfg.hydra.job.config.override_dirname.exclude_keys)
    others = ",".join(sorted(o for o in job if o.split("=")[0] not in in_path))
    middle = f"{others}/" if others else ""
    expected = f"{run.task.name}/{run.model.name}/{run.head.name}/{run.acquisition.priority}/{middle}seed{run.seed}"
    assert os.path.normpath(OmegaConf.select(cfg, "hydra.sweep.subdir")) == expected
    # The sweep's name is the first folder under multirun/ and the W&B group's prefix.
    assert OmegaConf.select(cfg, "hydra.sweep.dir").startswith(f"multirun/{run.sweep}/")


def test_glue_priorities_is_a_gpu_slurm_sweep():
    cfg = compose_sweep("glue_priorities", [], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.gpus_per_node == 1
    run = to_experiment_config(compose_sweep("glue_priorities", []), devices=False)  # the GPUs are the nodes'
    assert (run.model.name, run.trainer.accelerator) == ("bert_base", "gpu")
    assert math.prod(len(v.split(",")) for v in sweep_params("glue_priorities").values()) == 378


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
def test_make_sweep_runs_the_sweep_into_a_new_folder():
    commands = make_dry_run("sweep", REPO_ROOT, "SWEEP=testbed")
    assert "--config-dir sweeps --config-name testbed -m hydra.sweep.dir=$dir" in commands
    assert "dir=multirun/testbed/$(date" in commands
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


def planned(overrides: list[str], params: dict[str, str], sweep_dir: Path) -> tuple[Path, list]:
    """The jobs of `epinet-al -m <overrides>` with the sweep `params`, as SweepChecks plans them (nothing runs)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", [*overrides, f"hydra.sweep.dir={sweep_dir}"], return_hydra_config=True)
        with read_write(cfg.hydra):
            cfg.hydra.sweeper.params = params
        return plan_sweep(cfg)


def test_a_key_only_the_options_of_a_swept_group_have_needs_plus_plus(tmp_path, monkeypatch, capsys):
    # Hydra composes a multirun's base config with the default option of every swept group (testbed for
    # task=sst2,cola), and a key only the swept options have fails there: the error says how to give it.
    command = ["-m", "task=sst2,cola", "model=minilm", "task.max_pool_size=200", f"hydra.sweep.dir={tmp_path}"]
    result = run_cli(command, monkeypatch, capsys)
    assert result.code == 2
    assert result.error.endswith("(a key of a swept group's options needs ++: ++task.max_pool_size=200)")
    sweep_dir, jobs = planned(["model=minilm", "++task.max_pool_size=200"], {"task": "sst2,cola"}, tmp_path)
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
    params = {"trainer.optimizer.lr": "0.001,0.01", "budget": "prioritized,pool"}
    sweep_dir, jobs = planned(["budget.max_labels=20"], params, tmp_path)
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
@pytest.mark.parametrize(
    "launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]], ids=["basic", "joblib"]
)
def test_a_failing_job_does_not_stop_the_jobs_after_it(tmp_path, monkeypatch, capsys, launcher):
    # Before: the first failing job ended the command, and the jobs after it never ran. The joblib launcher (two
    # jobs at a time on one machine, docs/clusters.md) reports the same.
    result = run_cli(
        [
            "-m",
            *TINY_PRIORITIZED,
            "budget.max_steps=10",
            "head=mlp",
            "acquisition=bald,uniform",
            f"hydra.sweep.dir={tmp_path}",
            *launcher,
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


def test_a_sweep_rerun_leaves_the_hydra_record_of_finished_jobs_as_they_ran(tmp_path, monkeypatch, capsys):
    # Before: Hydra rewrote every finished job's .hydra/hydra.yaml with the relaunching command's overrides.
    command = ["-m", *TINIER, f"hydra.sweep.dir={tmp_path}"]
    assert run_cli([*command, "seed=0"], monkeypatch, capsys).code == 0
    record = tmp_path / "testbed/identity/epinet/variance/seed0/.hydra"
    before = {f.name: f.read_bytes() for f in record.iterdir()}
    assert "- seed=0" in before["overrides.yaml"].decode()

    rerun = run_cli([*command, "seed=0,1", "hydra/launcher=basic"], monkeypatch, capsys)
    assert rerun.code == 0 and "epinet-al: 2 finished, 0 failed" in rerun.stderr
    assert {f.name: f.read_bytes() for f in record.iterdir()} == before
    new_record = (tmp_path / "testbed/identity/epinet/variance/seed1/.hydra/hydra.yaml").read_text()
    assert "hydra/launcher=basic" in new_record  # a job that runs writes its record


def test_jobs_that_would_share_a_folder_are_refused(tmp_path, monkeypatch, capsys):
    command = ["-m", *TINIER, "seed=0,1", "hydra.sweep.subdir=same", f"hydra.sweep.dir={tmp_path / 's'}"]
    result = run_cli(command, monkeypatch, capsys)
    assert result.code == 2
    assert result.error == f"jobs seed=0 and seed=1 would write one folder, {tmp_path / 's' / 'same'}"
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------- reruns into a sweep folder


def finished_job(tiny_prioritized_run: Path, sweep_dir: Path) -> Path:
    """The sweep folder's job seed=0 of `-m *TINY_PRIORITIZED seed=0,1`, finished (a copy of the tiny run)."""
    folder = sweep_dir / "testbed/identity/epinet/variance/seed0"
    shutil.copytree(tiny_prioritized_run, folder)
    return folder


@pytest.mark.parametrize(
    ("change", "difference"),
    [("trainer.optimizer.lr=0.01", "trainer.optimizer.lr (0.001 saved, 0.01 now)"),
     ("budget.max_steps=40", "budget.max_steps (30 saved, 40 now)")],
)  # fmt: skip
def test_a_sweep_rerun_with_a_changed_setting_is_refused(tiny_prioritized_run, tmp_path, monkeypatch, capsys,
                                                         change, difference):  # fmt: skip
    # Before (trial N32, N33): "all 2 jobs in D are complete", exit 0, and the folder kept the old results.
    folder = finished_job(tiny_prioritized_run, tmp_path)
    result = run_cli(["-m", *TINY_PRIORITIZED, "seed=0,1", change, f"hydra.sweep.dir={tmp_path}"], monkeypatch, capsys)
    assert result.code == 2
    assert result.error.startswith(f"job seed=0: {folder} holds a finished run with another config: it differs in ")
    assert difference in result.error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["testbed"]  # nothing of the second sweep


def test_a_sweep_whose_job_folder_another_command_writes_names_it(tiny_prioritized_run, tmp_path, monkeypatch, capsys):
    # Before (trial N43): the rerun said "2 failed: no result" while the jobs still running held the locks.
    folder = tmp_path / "testbed/identity/epinet/variance/seed1"
    held = lock(folder, "sweep job seed=1")
    try:
        result = run_cli(["-m", *TINY_PRIORITIZED, "seed=0,1", f"hydra.sweep.dir={tmp_path}"], monkeypatch, capsys)
    finally:
        unlock(held)
    assert result.code == 2
    assert result.error.startswith(f"job seed=1: another epinet-al command is writing {folder} (pid {os.getpid()} on ")
    assert result.error.endswith(": sweep job seed=1); wait for it or stop it")
    assert not (tmp_path / "testbed/identity/epinet/variance/seed0").exists()  # no job ran


def wait_for(condition, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)


LOCAL_LAUNCHERS = {
    "local": ["hydra/launcher=local", "hydra.launcher.cpus_per_task=1"],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "stop"),
    # joblib's Ctrl-C is joblib's own (the command ends its workers); a kill -9 leaves the workers to the watch.
    [("local", signal.SIGKILL), ("local", signal.SIGINT), ("joblib", signal.SIGKILL)],
    ids=["local-kill-9", "local-ctrl-c", "joblib-kill-9"],
)
def test_the_local_launchers_jobs_stop_with_the_command(tmp_path, stop, launcher):
    # Before (trial N43, N44): the jobs went on as orphans holding their folders' locks, and a rerun said
    # "2 failed: no result"; the joblib launcher's workers did the same after a kill -9 (they ignore SIGINT).
    # Each job is held at a training step (tests/held_job) until the command is stopped.
    sweep_dir, hold = tmp_path / "sweep", tmp_path / "hold"
    hold.touch()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).with_name("held_job")), os.environ.get("PYTHONPATH", "")]),
        "EPINET_AL_HOLD": str(hold),
        "EPINET_AL_HOLD_STEP": "4",
    }
    command = [sys.executable, "-m", "epinet_al", "-m", *TINY_PRIORITIZED, "seed=0,1", *LOCAL_LAUNCHERS[launcher],
               f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    folders = [sweep_dir / f"testbed/identity/epinet/variance/seed{seed}" for seed in (0, 1)]
    log = tmp_path / "sweep.log"  # a file, not a pipe: the jobs inherit the command's output
    with log.open("w") as output:
        sweep = subprocess.Popen(command, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: all((f / "state.pt").exists() and is_locked(f) for f in folders), "held jobs", 300)
        sweep.send_signal(stop)
        sweep.wait(timeout=120)
        wait_for(lambda: not any(is_locked(f) for f in folders), "end of the jobs", 120)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert hold.exists()  # the jobs ended because the command did, not because they were let go
    if stop == signal.SIGINT:
        assert sweep.returncode == 130
        assert f"interrupted; run the same command again with hydra.sweep.dir={sweep_dir} to finish" in log.read_text()
    hold.unlink()
    rerun = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "epinet-al: 2 finished, 0 failed" in rerun.stderr
