"""Faults during training: a non-finite loss stops the run and keeps its last good state; a disk error
while writing results never loses the curve.

What a run does when a write fails:
- curve.csv at an evaluation point: a warning; the row stays in memory and in state.pt, and the next
  evaluation point writes the whole curve again (curve.csv keeps its last complete version meanwhile).
- curve.csv at the end, or state.pt: the run stops with one line (exit 2) and no summary.json; the
  files of the last good evaluation point stay, and running the same command again resumes from them.
"""

from __future__ import annotations

import errno
import logging
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

import epinet_al.active_learning.checkpoint as checkpoint
import epinet_al.tracking.recorder as recorder
from epinet_al.active_learning.checkpoint import STATE_FILE
from epinet_al.experiment import run_experiment
from epinet_al.models import EnnModule
from epinet_al.tracking.recorder import CURVE_FILE, SUMMARY_FILE
from tests.cli_runs import run_cli
from tests.tiny_configs import TINY_PRIORITIZED, experiment_config

pytestmark = pytest.mark.usefixtures("single_thread")

# The tiny run's evaluation points: eval_labels 5, 10 and 20 are crossed at steps 2, 3 and 11, and the run ends at 30.
EVAL_STEPS = [2, 3, 11, 30]


@pytest.fixture
def reference(tiny_prioritized_run) -> Path:
    return tiny_prioritized_run


def saved_state(folder: Path) -> dict:
    return torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)


def assert_last_good_point(folder: Path, step: int, reference: Path) -> None:
    """curve.csv and state.pt hold the evaluation points up to ``step``, agree, and no summary exists."""
    assert pd.read_csv(reference / CURVE_FILE)["step"].tolist() == EVAL_STEPS
    curve = pd.read_csv(folder / CURVE_FILE)
    assert curve["step"].tolist() == [s for s in EVAL_STEPS if s <= step]
    state = saved_state(folder)
    assert state["loop"]["step"] == step
    assert [row["step"] for row in state["curve"]] == curve["step"].tolist()
    assert all(torch.isfinite(value).all() for value in state["module"].values())
    assert not (folder / SUMMARY_FILE).exists()


def fail_once_at(calls: list, call: int, failing_from: bool = False):
    """An atomic_write that raises ENOSPC at its ``call``-th call (from then on if ``failing_from``)."""

    def write(path, *args, _write=recorder.atomic_write, **kwargs):
        calls.append(path)
        if len(calls) == call or (failing_from and len(calls) > call):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return _write(path, *args, **kwargs)

    return write


@pytest.mark.slow
def test_nan_loss_stops_the_run_and_keeps_the_last_good_state(reference, tmp_path, monkeypatch, capsys):
    training_step, calls = EnnModule.training_step, []

    def nan_from_step_4(self, batch, num_labels=0):
        calls.append(num_labels)
        losses = training_step(self, batch, num_labels)
        return {**losses, "loss": losses["loss"] * math.nan} if len(calls) >= 4 else losses

    args = [*TINY_PRIORITIZED, f"hydra.run.dir={tmp_path}"]
    with monkeypatch.context() as patch:
        patch.setattr(EnnModule, "training_step", nan_from_step_4)
        result = run_cli(args, monkeypatch, capsys)
    assert result.code == 2
    assert result.error == (
        "training loss is nan at step 4; stopped before the update (curve.csv and state.pt keep the evaluation "
        "point at step 3): lower trainer.optimizer.lr or set trainer.gradient_clip_norm"
    )
    assert_last_good_point(tmp_path, step=3, reference=reference)
    # The kept state is good: the same command, with the fault gone, ends as if nothing happened.
    assert run_cli(args, monkeypatch, capsys).code == 0
    assert (tmp_path / CURVE_FILE).read_bytes() == (reference / CURVE_FILE).read_bytes()


def test_a_diverging_learning_rate_is_stopped_with_its_state_kept(tmp_path, monkeypatch, capsys):
    # A real divergence: the first step with lr 1e30 leaves huge weights, the second loss is not finite.
    args = [*TINY_PRIORITIZED, "budget.eval_labels=[4]", "trainer.optimizer.lr=1e30", f"hydra.run.dir={tmp_path}"]
    result = run_cli(args, monkeypatch, capsys)
    assert result.code == 2
    assert result.error.startswith(
        "training loss is nan at step 2; stopped before the update (curve.csv and state.pt keep the evaluation "
        "point at step 1)"
    )
    state = saved_state(tmp_path)
    assert state["loop"]["step"] == 1 and len(pd.read_csv(tmp_path / CURVE_FILE)) == 1
    assert not (tmp_path / SUMMARY_FILE).exists()


def test_a_divergence_before_the_first_evaluation_point_says_nothing_is_kept(tmp_path, monkeypatch, capsys):
    # Before: "curve.csv and state.pt keep the last evaluation point", and the folder did not exist.
    folder = tmp_path / "run"
    result = run_cli([*TINY_PRIORITIZED, "trainer.optimizer.lr=1e30", f"hydra.run.dir={folder}"], monkeypatch, capsys)
    assert result.code == 2
    assert result.error == (
        "training loss is nan at step 2; stopped before the update (no evaluation point was reached: nothing is "
        "kept): lower trainer.optimizer.lr or set trainer.gradient_clip_norm"
    )
    assert not folder.exists()


def full_disk_after(limit: int):
    """An atomic_write whose file takes ``limit`` bytes, then fails as a full disk does (ENOSPC): torch's
    writer gets the OSError from ``write`` and raises its own RuntimeError ("unexpected pos ...")."""

    def write(path, fill, mode="w", _write=checkpoint.atomic_write):
        def limited(handle):
            class Full:
                def __init__(self):
                    self.size = 0

                def write(self, data):
                    self.size += len(data)
                    if self.size > limit:
                        raise OSError(errno.ENOSPC, "No space left on device")
                    return handle.write(data)

                def flush(self):
                    handle.flush()

            fill(Full())

        _write(path, limited, mode)

    return write


def test_a_full_disk_while_torch_saves_the_state_is_named(tmp_path, monkeypatch):
    # Before: "[enforce fail at inline_container.cc:672] . unexpected pos 19200 vs 19096" (torch's RuntimeError).
    saver = checkpoint.Checkpointer(tmp_path, {"seed": 0})
    part = SimpleNamespace(state_dict=lambda: {"weights": torch.zeros(4096)}, rows=[])
    saver.attach(module=part, optimizer=part, ledger=part, streams=part, recorder=part, wandb_run_id=None)
    monkeypatch.setattr(checkpoint, "atomic_write", full_disk_after(1000))
    with pytest.raises(OSError) as error:
        saver.save({"step": 1})
    assert str(error.value) == (
        f"could not save {tmp_path / STATE_FILE} ([Errno 28] No space left on device); no state was saved before: "
        "run again to start afresh"
    )
    assert saver.kept() == "no evaluation point was reached: nothing is kept"
    monkeypatch.undo()
    saver.save({"step": 1})
    monkeypatch.setattr(checkpoint, "atomic_write", full_disk_after(1000))
    with pytest.raises(OSError, match=r"\(\[Errno 28\] No space left on device\); the state saved before is kept: run"):
        saver.save({"step": 2})
    assert saver.kept() == "curve.csv and state.pt keep the evaluation point at step 1"
    assert saved_state(tmp_path)["loop"]["step"] == 1


@pytest.mark.slow
def test_a_file_size_limit_gives_the_same_line(tmp_path):
    """`ulimit -f` (the trial's N50): the kernel refuses the write with EFBIG inside torch's writer."""
    limit = 60 * 1024  # curve.csv fits, state.pt does not: torch fails inside its writer (the trial: ulimit -f 60)
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, "
        f"({limit}, {limit})); sys.argv = ['epinet-al', *sys.argv[1:]]; from epinet_al.cli import main; main()"
    )
    folder = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", code, *TINY_PRIORITIZED, "trainer.num_threads=1", f"hydra.run.dir={folder}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"epinet-al: error: could not save {folder / STATE_FILE} ([Errno 27] File too large); no state was saved "
        "before: run again to start afresh"
    )
    assert not (folder / STATE_FILE).exists()


@pytest.mark.slow
def test_a_failed_curve_write_is_retried_at_the_next_point(reference, tmp_path, monkeypatch, caplog):
    calls: list = []
    monkeypatch.setattr(recorder, "atomic_write", fail_once_at(calls, call=2))
    with caplog.at_level(logging.WARNING, logger=recorder.__name__):
        run_experiment(experiment_config(TINY_PRIORITIZED), tmp_path)
    assert "could not write" in caplog.text and "written again at the next evaluation point" in caplog.text
    assert (tmp_path / CURVE_FILE).read_bytes() == (reference / CURVE_FILE).read_bytes()
    assert (tmp_path / SUMMARY_FILE).exists()


@pytest.mark.slow
def test_a_curve_that_cannot_be_written_at_the_end_fails_the_run_and_is_kept(reference, tmp_path, monkeypatch, capsys):
    args = [*TINY_PRIORITIZED, f"hydra.run.dir={tmp_path}"]
    with monkeypatch.context() as patch:
        # The disk fills up after the second evaluation point: curve.csv keeps two rows, state.pt all.
        patch.setattr(recorder, "atomic_write", fail_once_at([], call=3, failing_from=True))
        result = run_cli(args, monkeypatch, capsys)
    assert result.code == 2
    assert result.error.startswith(f"could not write {tmp_path / CURVE_FILE} ([Errno 28] No space left on device")
    assert result.error.endswith("state.pt holds the whole curve: run again in the same folder to write it")
    assert pd.read_csv(tmp_path / CURVE_FILE)["step"].tolist() == [2, 3]
    assert [row["step"] for row in saved_state(tmp_path)["curve"]] == EVAL_STEPS
    assert not (tmp_path / SUMMARY_FILE).exists()
    assert run_cli(args, monkeypatch, capsys).code == 0
    assert (tmp_path / CURVE_FILE).read_bytes() == (reference / CURVE_FILE).read_bytes()


@pytest.mark.slow
def test_a_state_that_cannot_be_saved_fails_the_run_keeping_the_one_before(reference, tmp_path, monkeypatch, capsys):
    args = [*TINY_PRIORITIZED, f"hydra.run.dir={tmp_path}"]
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "atomic_write", fail_once_at([], call=2))
        result = run_cli(args, monkeypatch, capsys)
    assert result.code == 2
    assert result.error.startswith(f"could not save {tmp_path / STATE_FILE} ([Errno 28] No space left on device")
    assert saved_state(tmp_path)["loop"]["step"] == 2
    assert not (tmp_path / SUMMARY_FILE).exists()
    assert run_cli(args, monkeypatch, capsys).code == 0
    assert (tmp_path / CURVE_FILE).read_bytes() == (reference / CURVE_FILE).read_bytes()
