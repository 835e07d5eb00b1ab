"""W&B tracking, for real in offline mode: the run written to disk is read back record by record.

These tests alone let W&B run (offline: no account, no network); every W&B file goes under tmp_path.
"""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import wandb

from epinet_al.experiment import run_experiment
from epinet_al.tracking.wandb_tracker import WandbTracker
from tests.tiny_configs import TINY_PRIORITIZED, experiment_config
from tests.wandb_records import OfflineRun

WANDB_OVERRIDES = [*TINY_PRIORITIZED, "logger=wandb", "logger.mode=offline", "sweep=smoke", "acquisition=variance"]


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


def offline_run(output_dir) -> OfflineRun:
    (folder,) = (output_dir / "wandb").glob("offline-run-*")
    return OfflineRun.load(folder)


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

    # Every curve column is defined by its exact name with num_labels as its x axis.
    metrics = [c for c in curve.columns if c != "num_labels"]
    assert {name: run.step_metrics.get(name) for name in metrics} == dict.fromkeys(metrics, "num_labels")
    assert "num_labels" in run.step_metrics

    # One history row per curve row, with the same values.
    rows = [row for row in run.history if "num_labels" in row]
    assert [row["num_labels"] for row in rows] == curve["num_labels"].tolist()
    for column in metrics:
        assert [row[column] for row in rows] == pytest.approx(curve[column].tolist())

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
    assert [row["num_labels"] for row in run.history] == curve["num_labels"].tolist()[:1]
    # Still closed, and marked failed: its curve on the dashboard is incomplete.
    assert run.exit_code == 1


def test_a_run_that_fails_closes_its_wandb_run_as_failed(wandb_env):
    out = wandb_env / "run"
    # A learning rate this large makes the loss non-finite within a few steps: the loop raises.
    with pytest.raises(FloatingPointError):
        run_experiment(experiment_config([*WANDB_OVERRIDES, "trainer.optimizer.lr=1e30"]), out)
    run = offline_run(out)
    assert run.exit_code == 1 and not (out / "summary.json").exists()


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
