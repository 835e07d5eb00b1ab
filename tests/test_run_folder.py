"""The run folder seen from the command: a finished run is left as it is, one writer at a time,
`resume=<folder>` alone, Ctrl-C, the working directory as the run folder, start-up without torch."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

import epinet_al.experiment
from epinet_al.run_folder import config_differences, lock, unlock
from epinet_al.tracking.recorder import CURVE_FILE, SUMMARY_FILE
from tests.cli_runs import run_cli, snapshot
from tests.tiny_configs import TINY_PRIORITIZED

pytestmark = pytest.mark.usefixtures("single_thread")


def test_a_finished_run_is_left_untouched(tiny_prioritized_run, tmp_path, monkeypatch, capsys):
    # Before: the command "resumed from step 30" and rewrote summary.json (wall time, versions).
    folder = tmp_path / "run"
    shutil.copytree(tiny_prioritized_run, folder)
    before, mtime = snapshot(folder), (folder / SUMMARY_FILE).stat().st_mtime_ns
    result = run_cli([*TINY_PRIORITIZED, f"hydra.run.dir={folder}"], monkeypatch, capsys)
    assert result.code == 0
    assert result.stdout.startswith(f"{folder} is complete: test/nll ") and " at 20 labels" in result.stdout
    assert snapshot(folder) == before and (folder / SUMMARY_FILE).stat().st_mtime_ns == mtime


def test_a_finished_run_with_another_config_is_refused(tiny_prioritized_run, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "run"
    shutil.copytree(tiny_prioritized_run, folder)
    result = run_cli([*TINY_PRIORITIZED, "seed=1", f"hydra.run.dir={folder}"], monkeypatch, capsys)
    assert result.code == 2
    assert result.error.startswith(f"{folder} holds a finished run with another config: it differs in ")
    assert "; seed (0 saved, 1 now)" in result.error


def test_a_second_writer_stops_at_once(tmp_path, monkeypatch, capsys):
    # Before: two runs into one folder both "succeeded" and one result was lost.
    folder = tmp_path / "run"
    held = lock(folder, "the test's command")
    try:
        result = run_cli([*TINY_PRIORITIZED, f"hydra.run.dir={folder}"], monkeypatch, capsys)
    finally:
        unlock(held)
    assert result.code == 2
    # The lock names its holder: process, host, time and command.
    assert result.error.startswith(f"another epinet-al command is writing {folder} (pid {os.getpid()} on ")
    assert result.error.endswith(": the test's command); wait for it or use another folder")
    assert [p.name for p in folder.iterdir()] == [".lock"]  # nothing of the second run


def test_the_working_directory_survives_an_early_failure(tmp_path, monkeypatch, capsys):
    # Before: `hydra.run.dir=.` and a bad budget deleted the working directory itself.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli([*TINY_PRIORITIZED, "budget.max_labels=41", "hydra.run.dir=."], monkeypatch, capsys)
    assert result.code == 2 and "budget.max_labels=41 is larger than the pool" in result.error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_resume_takes_the_folders_own_overrides(tmp_path, monkeypatch, capsys):
    # Before: `resume=<folder>` alone failed with "config differs in budget.max_steps". The command runs the
    # folder's own command again (its recorded overrides, the given ones on top) in a child process.
    folder = tmp_path / "run"
    assert run_cli([*TINY_PRIORITIZED, f"hydra.run.dir={folder}"], monkeypatch, capsys).code == 0
    curve = (folder / CURVE_FILE).read_bytes()
    (folder / SUMMARY_FILE).unlink()  # as if stopped after its last evaluation point

    def resume(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "epinet_al", f"resume={folder}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    changed = resume("budget.batch_size=2")
    assert changed.returncode == 2
    assert changed.stderr.strip().endswith("its config differs in budget.batch_size (4 saved, 2 now)")
    result = resume("progress_bar=true")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (folder / SUMMARY_FILE).is_file() and (folder / CURVE_FILE).read_bytes() == curve


@pytest.mark.parametrize("evaluated", [True, False], ids=["after-an-evaluation", "before-any"])
def test_ctrl_c_ends_in_one_line(tmp_path, monkeypatch, capsys, evaluated):
    folder = tmp_path / "run"

    def interrupted_run(cfg, output_dir):
        if evaluated:
            (output_dir / "state.pt").write_bytes(b"saved")
        raise KeyboardInterrupt

    monkeypatch.setattr(epinet_al.experiment, "run_experiment", interrupted_run)
    result = run_cli([*TINY_PRIORITIZED, f"hydra.run.dir={folder}"], monkeypatch, capsys)
    assert result.code == 130 and "Traceback" not in result.stderr
    if evaluated:
        expected = f"interrupted; run the same command again to resume from the last evaluation point ({folder})"
        assert result.stdout.strip() == expected
        assert (folder / "state.pt").read_bytes() == b"saved"
    else:
        assert result.stdout.strip() == "interrupted before the first evaluation point; nothing was kept"
        assert not folder.exists()


@pytest.mark.slow
def test_unreachable_slurm_controller_is_one_line(tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("sbatch", "srun", "squeue", "sacct", "scontrol", "sinfo"):
        fake = bin_dir / command
        fake.write_text(
            "#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Unable to contact slurm controller "
            "(connect failure)' >&2\nexit 1\n"
        )
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    sweep = tmp_path / "sweep"
    result = run_cli(
        ["-m", *TINY_PRIORITIZED, "hydra/launcher=slurm", "seed=0,1", f"hydra.sweep.dir={sweep}"], monkeypatch, capsys
    )
    assert result.code == 2
    assert result.error.startswith("the sweep could not run: ") and "Unable to contact slurm controller" in result.error


def test_the_command_line_module_imports_no_torch():
    # Before: `epinet-al --help` and every TAB of shell completion imported Lightning and torchmetrics (8 s).
    heavy = ("torch", "lightning_fabric", "torchmetrics", "transformers")
    code = f"import sys, epinet_al.cli; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_help_names_the_program(monkeypatch, capsys):
    result = run_cli(["--help"], monkeypatch, capsys)
    assert result.code == 0 and result.stdout.startswith("epinet-al is powered by Hydra.")
    # The groups listed from the files under conf/ (Hydra lists them by composing every option: seconds).
    assert "\nagent: baseline, baseline_finetune, dropout_bald," in result.stdout
    assert "experiment: paper/D10_rho0.1, " in result.stdout and "budget: glue, glue_pool, paper/cola," in result.stdout


def test_version_is_the_projects(monkeypatch, capsys):
    result = run_cli(["--version"], monkeypatch, capsys)
    assert result.code == 0 and result.stdout.startswith("epinet-al ")


def test_a_slurm_sweep_is_not_checked_against_this_machines_devices():
    """A login node without a GPU still submits a GPU sweep: its jobs check their devices where they run."""
    from hydra import compose, initialize_config_dir

    from epinet_al.hydra_callbacks import experiment_config as _experiment_config
    from epinet_al.paths import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        slurm = compose("config", ["trainer=gpu", "hydra/launcher=slurm"], return_hydra_config=True)
        local = compose("config", ["trainer=gpu"], return_hydra_config=True)
    assert _experiment_config(slurm).trainer.accelerator == "gpu"
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="has no GPU"):
            _experiment_config(local)


def test_config_differences_ignore_float_round_off():
    """A run saved with the old prior scale 0.3 / 0.1 = 2.9999999999999996 is the run of head.prior_scale=3."""
    saved = {"head": {"prior_scale": 0.3 / 0.1, "index_dim": 8, "on": True}, "seed": 0}
    assert config_differences(saved, {"head": {"prior_scale": 3.0, "index_dim": 8, "on": True}, "seed": 0}) == []
    assert config_differences(saved, {"head": {"prior_scale": 3.001, "index_dim": 8, "on": "yes"}, "seed": 0}) == [
        "head.prior_scale (2.9999999999999996 saved, 3.001 now)",
        "head.on (True saved, 'yes' now)",
    ]
