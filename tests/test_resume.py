"""Preemption-safe resume: a run killed with SIGKILL and started again ends exactly as if never stopped.

The killed run is a real `epinet-al` process (tests/stalled_cli.py holds it at a known point so the
kill never races the end of a one-second run); the resumed runs and the uninterrupted reference run
in this process with one thread, like the killed one (OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from epinet_al.active_learning.checkpoint import STATE_FILE, Checkpointer
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.experiment import run_experiment
from epinet_al.seeding import GENERATORS, SeedStreams
from epinet_al.tracking.recorder import CURVE_FILE, SUMMARY_FILE, CurveRecorder
from tests.cli_runs import run_cli
from tests.tiny_configs import TINY, experiment_config

pytestmark = pytest.mark.usefixtures("single_thread")

STALLED_CLI = Path(__file__).with_name("stalled_cli.py")
REPO_ROOT = Path(__file__).resolve().parents[1]
# Importing torch and Lightning in a fresh process takes seconds on a busy 2-core machine.
START_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def reference(tmp_path_factory, request) -> dict[str, Path]:
    """An uninterrupted run per protocol."""
    request.getfixturevalue("single_thread")
    root = tmp_path_factory.mktemp("reference")
    for protocol, overrides in TINY.items():
        run_experiment(experiment_config(overrides), root / protocol)
    return {protocol: root / protocol for protocol in TINY}


def load_state(folder: Path) -> dict:
    return torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)


def assert_same_run(folder: Path, reference: Path) -> None:
    """The same curve.csv byte for byte, the same labels in the same order and the same final weights."""
    assert (folder / CURVE_FILE).read_bytes() == (reference / CURVE_FILE).read_bytes()
    state, expected = load_state(folder), load_state(reference)
    assert state["ledger"]["order"] == expected["ledger"]["order"]
    assert state["module"].keys() == expected["module"].keys()
    assert all(torch.equal(state["module"][k], expected["module"][k]) for k in expected["module"])
    assert (folder / SUMMARY_FILE).exists()


def kill_when_stalled(args: list[str], point: str, folder: Path) -> None:
    """Start `epinet-al <args>` held at ``point``; SIGKILL it there, once its state.pt exists."""
    marker = folder.parent / f"{folder.name}.stalled"
    log = folder.parent / f"{folder.name}.stderr"
    # PYTHONPATH: the checkout's package, not the one the virtualenv has installed (another checkout).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO_ROOT)}
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(STALLED_CLI), point, str(marker), *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (marker.exists() and (folder / STATE_FILE).exists()):
            assert process.poll() is None, f"the run ended before {point}: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {STATE_FILE} after {START_TIMEOUT_S} s"
            time.sleep(0.05)
        assert process.poll() is None  # still mid-run
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not (folder / SUMMARY_FILE).exists()


# (protocol, stall point, rows that curve.csv holds at the kill). Prioritized: evaluation points
# at steps 2, 3, 11 and 30; pool: after every round of 5 steps.
KILLS = [
    ("prioritized", "train:4", 2),  # between evaluation points: step 4's draws and update are lost
    ("pool", "train:13", 2),  # mid-round: round 3's acquisition and 2 of its steps are lost
    ("prioritized", "save:2", 2),  # inside the second save: the first state.pt must survive intact
]


@pytest.mark.slow
@pytest.mark.parametrize(("protocol", "point", "rows"), KILLS, ids=[f"{p}-{s}" for p, s, _ in KILLS])
def test_killed_run_resumes_to_the_uninterrupted_result(
    reference, tmp_path, monkeypatch, capsys, protocol, point, rows
):
    killed = tmp_path / "run"
    args = [*TINY[protocol], f"hydra.run.dir={killed}"]
    kill_when_stalled(args, point, killed)
    assert len((killed / CURVE_FILE).read_text().splitlines()) - 1 == rows
    assert len((reference[protocol] / CURVE_FILE).read_text().splitlines()) - 1 > rows  # the run was cut short
    copy = tmp_path / "copy"
    shutil.copytree(killed, copy)

    # The same command again, in the same folder, resumes by itself ...
    assert run_cli(args, monkeypatch, capsys).code == 0
    assert_same_run(killed, reference[protocol])
    # ... and so does `resume=` a folder.
    assert run_cli([*TINY[protocol], f"resume={copy}"], monkeypatch, capsys).code == 0
    assert_same_run(copy, reference[protocol])
    assert not list(copy.glob(f".{STATE_FILE}.*.tmp"))  # the save cut short left nothing behind


def test_a_finished_run_started_again_changes_nothing(reference, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "run"
    shutil.copytree(reference["prioritized"], folder)
    assert run_cli([*TINY["prioritized"], f"resume={folder}"], monkeypatch, capsys).code == 0
    assert_same_run(folder, reference["prioritized"])


def test_a_finished_run_can_leave_no_state(tmp_path, reference):
    run_experiment(experiment_config([*TINY["prioritized"], "keep_state=false"]), tmp_path)
    assert not (tmp_path / STATE_FILE).exists() and (reference["prioritized"] / STATE_FILE).exists()
    assert (tmp_path / CURVE_FILE).read_text() == (reference["prioritized"] / CURVE_FILE).read_text()


def test_resume_of_a_folder_without_state_fails_clearly(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("not a run")
    result = run_cli([*TINY["prioritized"], f"resume={tmp_path}"], monkeypatch, capsys)
    assert result.code == 2
    assert result.error == f"nothing to resume in {tmp_path}: it has no {STATE_FILE}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # Hydra never ran there


def test_resume_of_a_missing_folder_creates_nothing(tmp_path, monkeypatch, capsys):
    result = run_cli([*TINY["prioritized"], f"resume={tmp_path / 'nowhere'}"], monkeypatch, capsys)
    assert result.code == 2 and "nothing to resume" in result.error
    assert not (tmp_path / "nowhere").exists()


# ---------------------------------------------------------------- Checkpointer


def _parts(seed: int) -> dict:
    """Objects a checkpoint covers, in a state that depends on ``seed``."""
    torch.manual_seed(seed)
    module = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    module(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    ledger = LabelLedger(torch.arange(10) % 2, budget=5)
    ledger.reveal(torch.randperm(10)[:3])
    streams = SeedStreams.from_seed(seed)
    for name in GENERATORS:
        torch.rand(seed + 1, generator=getattr(streams, name))
    return dict(module=module, optimizer=optimizer, ledger=ledger, streams=streams)


class _Fixed:
    """What a run draws once when it starts (the agent's index sets): saved and restored by name."""

    def __init__(self, value: torch.Tensor):
        self.value = value

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = state["value"]


def _draws(streams: SeedStreams) -> list:
    """One draw from every random source a run uses."""
    return [
        torch.rand(3).tolist(),
        np.random.rand(3).tolist(),
        random.random(),
        *(torch.rand(3, generator=getattr(streams, name)).tolist() for name in GENERATORS),
    ]


def test_checkpointer_round_trip_restores_everything(tmp_path):
    config = {"seed": 0, "budget": {"max_labels": 5}, "progress_bar": True}
    saved = _parts(seed=1)
    recorder = CurveRecorder(tmp_path)
    recorder(2, 3, {"test/acc": 0.5})
    checkpointer = Checkpointer(tmp_path, config)
    assert checkpointer.saved is None
    checkpointer.attach(**saved, recorder=recorder, wandb_run_id="run-id", fixed={"sets": _Fixed(torch.arange(3))})
    np.random.seed(7)
    random.seed(7)
    checkpointer.save({"step": 2, "next_eval": 1})
    expected = _draws(saved["streams"])

    restored = _parts(seed=2)  # a fresh process: other weights, labels and random states
    np.random.seed(8)
    random.seed(8)
    checkpointer = Checkpointer(tmp_path, {**config, "progress_bar": False})  # a display setting may change
    fixed = _Fixed(torch.zeros(3))
    checkpointer.attach(**restored, recorder=CurveRecorder(tmp_path), wandb_run_id=None, fixed={"sets": fixed})
    assert checkpointer.restore() == {"step": 2, "next_eval": 1}
    assert torch.equal(fixed.value, torch.arange(3))
    assert _draws(restored["streams"]) == expected
    assert checkpointer.curve == recorder.rows
    assert checkpointer.wandb_run_id == "run-id"
    assert restored["ledger"].order == saved["ledger"].order
    assert torch.equal(restored["ledger"].is_labeled, saved["ledger"].is_labeled)
    for key, value in saved["module"].state_dict().items():
        assert torch.equal(restored["module"].state_dict()[key], value)
    assert str(restored["optimizer"].state_dict()) == str(saved["optimizer"].state_dict())


def test_checkpointer_refuses_another_config_naming_the_key(tmp_path):
    checkpointer = Checkpointer(tmp_path, {"seed": 0, "budget": {"batch_size": 4}})
    checkpointer.attach(**_parts(seed=0), recorder=CurveRecorder(tmp_path), wandb_run_id=None)
    checkpointer.save({"step": 1})
    with pytest.raises(ValueError, match=r"config differs in budget\.batch_size \(4 saved, 8 now\)$"):
        Checkpointer(tmp_path, {"seed": 0, "budget": {"batch_size": 8}})


def test_checkpointer_refuses_an_unreadable_state(tmp_path):
    (tmp_path / STATE_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"{STATE_FILE} cannot be read .*remove it to start afresh"):
        Checkpointer(tmp_path, {"seed": 0})
