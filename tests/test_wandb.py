"""W&B tracking, for real in offline mode: the run written to disk is read back record by record.

These tests alone let W&B run (offline: no account, no network); every W&B file goes under tmp_path.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import wandb

from epinet_al.experiment import run_experiment
from epinet_al.tracking.recorder import CURVE_FILE, SUMMARY_FILE
from epinet_al.tracking.wandb_tracker import WandbTracker
from tests.cli_runs import run_cli
from tests.tiny_configs import TINY_POOL, TINY_PRIORITIZED, experiment_config
from tests.wandb_records import OfflineRun

WANDB_OVERRIDES = [*TINY_PRIORITIZED, "logger=wandb", "logger.mode=offline", "sweep=smoke", "acquisition=variance"]
STALLED_CLI = Path(__file__).with_name("stalled_cli.py")
# Importing torch, Lightning and W&B in a fresh process takes seconds on a busy 2-core machine.
START_TIMEOUT_S = 120


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """Offline W&B confined to tmp_path: no ~/.config/wandb, no cache, no console output."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    return tmp_path


def offline_folders(output_dir: Path) -> list[Path]:
    """The offline W&B folders of a run, oldest first (``offline-run-<start time>-<run id>``)."""
    return sorted((output_dir / "wandb").glob("offline-run-*"))


def offline_run(output_dir: Path) -> OfflineRun:
    (folder,) = offline_folders(output_dir)
    return OfflineRun.load(folder)


def points(run: OfflineRun) -> list[dict]:
    """The evaluation points of a W&B run: its history rows that hold a curve row."""
    return [row for row in run.history if "num_labels" in row]


def start_tracker(output_dir: Path, run_id: str | None = None, rows: list[dict] | None = None) -> WandbTracker:
    return WandbTracker.start(
        project="p",
        entity=None,
        mode="offline",
        group="g",
        job_type="j",
        name="n",
        tags=[],
        config={},
        output_dir=output_dir,
        run_id=run_id,
        rows=rows,
    )


@pytest.mark.slow
def test_offline_run_logs_the_curve_against_num_labels(wandb_env):
    out = wandb_env / "run"
    summary = run_experiment(experiment_config(WANDB_OVERRIDES), out)
    curve = pd.read_csv(out / "curve.csv")
    run = offline_run(out)

    # Grouped by sweep and task; the agent, head and priority are there to colour and filter by.
    assert run.group == "smoke-testbed"
    assert run.job_type == "epinet-variance"
    assert {"testbed", "epinet", "variance"} <= set(run.tags)
    assert run.config["agent"] == "epinet/variance"
    assert run.config["head"]["name"] == "epinet"
    assert run.config["acquisition"]["priority"] == "variance"

    # Every metric is defined by its exact name with num_labels as its x axis; num_labels and the loop's
    # step are x axes; the runs table shows each metric's best value.
    metrics = [c for c in curve.columns if c not in ("num_labels", "step")]
    assert {name: run.step_metrics.get(name) for name in metrics} == dict.fromkeys(metrics, "num_labels")
    assert run.step_metrics["num_labels"] == run.step_metrics["step"] == ""
    best = {
        "train/loss": {"min"},
        "test/acc": {"max"},
        "test/nll": {"min"},
        "test/joint_nll": {"min"},
        "test/ece": {"min"},
    }
    assert {name: run.summaries[name] for name in best} == best
    # Diagnostics have no better direction (a larger spread is not worse): W&B's default, the last value.
    assert not any(run.summaries.get(name) for name in ("test/spread", "test/spread_cv", "train/l2_weight"))

    # One history row per label count, the last curve row there (the run's last two points are both at the
    # budget of 20 labels), at W&B step = the loop's step, with the same values.
    assert curve["num_labels"].tolist()[-2:] == [20, 20]
    last = curve.drop_duplicates("num_labels", keep="last")
    rows = points(run)
    assert [row["_step"] for row in rows] == [row["step"] for row in rows] == last["step"].tolist()
    for column in ["num_labels", *metrics]:
        assert [row[column] for row in rows] == pytest.approx(last[column].tolist())

    # Summary: final metrics and the area under each curve, as in summary.json.
    assert {k: run.summary[f"final/{k}"] for k in summary["final"]} == pytest.approx(summary["final"])
    assert summary["auc"]
    assert {k: run.summary[f"auc/{k}"] for k in summary["auc"]} == pytest.approx(summary["auc"])

    # The final curve as a table (the line plot reads the same table file).
    table_entry = run.summary["curve"]
    assert table_entry["_type"] == "table-file"
    assert run.summary["curve_plot_table"]["path"] == table_entry["path"]
    table = json.loads((run.folder / "files" / table_entry["path"]).read_text())
    assert table["columns"] == curve.columns.tolist()
    assert len(table["data"]) == len(curve)
    assert run.exit_code == 0


def test_wandb_that_cannot_start_falls_back_and_the_run_goes_on(wandb_env, monkeypatch, caplog):
    attempts = []

    def failing_init(**kwargs):
        attempts.append(kwargs["mode"])
        raise RuntimeError("no network")

    monkeypatch.setattr(wandb, "init", failing_init)
    out = wandb_env / "run"
    with caplog.at_level(logging.WARNING, logger="epinet_al.tracking.wandb_tracker"):
        run_experiment(experiment_config([*WANDB_OVERRIDES, "logger.mode=online"]), out)

    assert attempts == ["online", "offline"]
    assert "W&B disabled for this run" in caplog.text
    assert len(pd.read_csv(out / "curve.csv")) > 0
    assert (out / "summary.json").is_file()


@pytest.mark.slow
def test_a_log_failure_mid_run_stops_logging_but_not_the_run(wandb_env, monkeypatch, caplog):
    real_log = wandb.Run.log
    calls = []

    def log_once_then_fail(self, *args, **kwargs):
        calls.append(args)
        if len(calls) > 1:
            raise ConnectionError("connection reset")
        return real_log(self, *args, **kwargs)

    monkeypatch.setattr(wandb.Run, "log", log_once_then_fail)
    out = wandb_env / "run"
    with caplog.at_level(logging.WARNING, logger="epinet_al.tracking.wandb_tracker"):
        run_experiment(experiment_config(WANDB_OVERRIDES), out)

    curve = pd.read_csv(out / "curve.csv")
    assert len(curve) > 2 and (out / "summary.json").is_file()
    assert "W&B logging failed (connection reset)" in caplog.text
    assert len(calls) == 2  # nothing more is sent after the failure, not even the final table
    run = offline_run(out)
    assert [row["num_labels"] for row in points(run)] == curve["num_labels"].tolist()[:1]
    # Still closed, and marked failed: its curve on the dashboard is incomplete.
    assert run.exit_code == 1


@pytest.mark.slow
def test_a_run_that_fails_closes_its_wandb_run_as_failed(wandb_env):
    out = wandb_env / "run"
    # A learning rate this large makes the loss non-finite within a few steps: the loop raises.
    with pytest.raises(FloatingPointError):
        run_experiment(experiment_config([*WANDB_OVERRIDES, "trainer.optimizer.lr=1e30"]), out)
    run = offline_run(out)
    assert run.exit_code == 1 and not (out / "summary.json").exists()


class FakeRun:
    """The part of a wandb Run the tracker uses, recording what is logged."""

    def __init__(self):
        self.step, self.id, self.logged, self.exit_code = 0, "fake", [], None
        self.summary = {}

    def define_metric(self, *args, **kwargs):
        pass

    def log(self, row, step=None, commit=True):
        self.logged.append(step if "num_labels" in row else "final")

    def finish(self, exit_code=0):
        self.exit_code = exit_code


@pytest.mark.parametrize("end", ["finish", "fail"])
def test_one_point_per_label_count_is_sent_the_last(end):
    # The trial's N8: the points after the label budget all have num_labels = max_labels, and every dashboard
    # curve ended in a vertical segment there.
    run = FakeRun()
    tracker = WandbTracker(run)
    for step, labels in [(2, 5), (3, 10), (7, 20)]:
        tracker.log({"step": step, "num_labels": labels, "test/nll": 1 / step})
    assert run.logged == [2, 3]  # the live curve is one point behind
    for step in (10, 20, 30):
        tracker.log({"step": step, "num_labels": 20, "test/nll": 1 / step})
    assert run.logged == [2, 3]
    if end == "finish":
        tracker.finish({"metric": {"name": "test/nll"}, "final": {}}, [])
        assert run.logged == [2, 3, 30, "final"] and run.exit_code == 0
    else:
        tracker.fail()
        assert run.logged == [2, 3, 30] and run.exit_code == 1


def test_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown W&B mode 'onlin'; valid modes: online, offline, disabled"):
        WandbTracker.start(
            project="p",
            entity=None,
            mode="onlin",
            group="g",
            job_type="j",
            name="n",
            tags=[],
            config={},
            output_dir=tmp_path,
        )


@pytest.mark.slow
def test_a_resumed_run_continues_its_wandb_run_and_holds_each_point_once(wandb_env):
    # The evaluation points after the budget share num_labels (12): W&B gets the last of them.
    rows = [{"step": s, "num_labels": min(4 * s, 12), "test/acc": s / 20, "test/nll": 1 / s} for s in (1, 2, 3, 6, 9)]
    out = wandb_env / "run"
    first = start_tracker(out)
    for row in rows[:3]:
        first.log(row)
    first.fail()  # stopped (Ctrl-C, a failure) after its third point; state.pt holds the first two
    (folder,) = offline_folders(out)
    stopped = OfflineRun.load(folder)  # (waits until W&B has closed the file)
    assert [row["_step"] for row in points(stopped)] == [1, 2, 3] and stopped.exit_code == 1

    second = start_tracker(out, run_id=first.run_id, rows=rows[:2])
    for row in rows[2:]:  # the loop redoes the third point
        second.log(row)
    second.finish({"metric": {"name": "test/acc"}, "final": rows[-1]}, rows)

    # The newest folder, the one to sync, holds the whole curve of the same run: each label count once, in
    # order, with its last point.
    *_, newest = offline_folders(out)
    resumed = OfflineRun.load(newest)
    assert resumed.run_id == stopped.run_id == first.run_id
    assert [{key: row[key] for key in rows[0]} for row in points(resumed)] == [rows[0], rows[1], rows[4]]
    assert [row["_step"] for row in points(resumed)] == [1, 2, 9]
    assert resumed.summary["test/acc"] == {"max": 9 / 20} and resumed.summary["test/nll"] == {"min": 1 / 9}
    assert resumed.exit_code == 0


def killed_run_env() -> dict[str, str]:
    """The environment of a run started as its own command."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # Its own W&B service, as a separate command has: one this process started is announced in WANDB_SERVICE,
    # and would keep the killed run's id in use.
    env.pop("WANDB_SERVICE", None)
    # This checkout's code, not whichever one the environment has installed.
    env["PYTHONPATH"] = str(STALLED_CLI.parent.parent)
    return env


@pytest.mark.slow
def test_kill_9_then_resume_leaves_a_wandb_run_with_each_point_once(wandb_env, monkeypatch, capsys):
    """SIGKILL inside the 4th evaluation point's save: W&B and curve.csv have the point, state.pt does not."""
    out = wandb_env / "run"
    args = [*TINY_POOL, "logger=wandb", "logger.mode=offline", f"hydra.run.dir={out}"]
    marker, log = wandb_env / "stalled", wandb_env / "killed.stderr"
    with log.open("w") as stderr:
        killed = subprocess.Popen(
            [sys.executable, str(STALLED_CLI), "save:4", str(marker), *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=killed_run_env(),
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not marker.exists():
            assert killed.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"not at the 4th evaluation point after {START_TIMEOUT_S} s"
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()
    assert len(pd.read_csv(out / CURVE_FILE)) == 4 and not (out / SUMMARY_FILE).exists()
    (killed_folder,) = offline_folders(out)
    run_id = killed_folder.name.rpartition("-")[2]

    time.sleep(1)  # W&B names offline folders by the second they start in
    assert run_cli(args, monkeypatch, capsys).code == 0  # the same command resumes
    curve = pd.read_csv(out / CURVE_FILE)
    assert len(curve) == 5
    *_, newest = offline_folders(out)
    run = OfflineRun.load(newest)
    assert run.run_id == run_id
    rows = points(run)
    assert [row["_step"] for row in rows] == [row["step"] for row in rows] == curve["step"].tolist()
    for column in curve.columns:
        assert [row[column] for row in rows] == pytest.approx(curve[column].tolist())
    assert run.exit_code == 0


def test_make_wandb_sync_uploads_the_newest_folder_of_each_run_under_any_folder(tmp_path):
    # The trial's N12: `make wandb-sync` searched only the clone's outputs/ and multirun/.
    for folder in ("a/wandb/offline-run-20260101_000000-abc", "a/wandb/offline-run-20260102_000000-abc",
                   "b/c/wandb/offline-run-20260101_000000-xyz"):  # fmt: skip
        (tmp_path / folder).mkdir(parents=True)
    repo = Path(__file__).resolve().parents[1]
    make = ["make", "-s", "-C", str(repo), "-o", ".venv/.installed-stamp", "wandb-sync", "WANDB=echo"]
    result = subprocess.run([*make, f"WANDB_DIRS={tmp_path}"], capture_output=True, text=True, check=True)
    assert result.stdout.split() == [
        "sync",
        str(tmp_path / "a/wandb/offline-run-20260102_000000-abc"),
        str(tmp_path / "b/c/wandb/offline-run-20260101_000000-xyz"),
    ]
    empty = subprocess.run([*make, f"WANDB_DIRS={tmp_path / 'b' / 'none'}"], capture_output=True, text=True)
    assert empty.stdout.startswith(f"no offline W&B runs under {tmp_path / 'b' / 'none'}; runs written elsewhere: ")
