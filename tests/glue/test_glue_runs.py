"""GLUE end to end on the tiny random BERT: every layout in every mode, regression, the encoder_dropout head."""

from __future__ import annotations

import csv
import json

import pytest

from epinet_al.data.glue_tasks import get_glue_task
from epinet_al.experiment import run_experiment
from tests.tiny_configs import TINY, experiment_config


def curve(output_dir) -> list[dict[str, str]]:
    with open(output_dir / "curve.csv") as handle:
        return list(csv.DictReader(handle))


# One task per layout: single sentence without header (CoLA) and with (SST-2), pair (RTE), MNLI's two
# dev files, STS-B's float scores.
LAYOUTS = {
    "cola": [],
    "sst2": [],
    "rte": [],
    "mnli": [],
    "stsb": ["acquisition=variance"],
}


MODES = {
    "frozen": ["model.finetune=frozen"],
    "full": ["model.finetune=full"],
    "top": ["model.finetune=top", "model.trainable_layers=1"],
}


@pytest.mark.slow
@pytest.mark.parametrize("finetune", sorted(MODES))
@pytest.mark.parametrize("task", sorted(LAYOUTS))
def test_every_layout_runs_in_every_mode(glue_config, tmp_path, task, finetune):
    # Steps enough to reach the label cap whatever the loop re-picks.
    cfg = glue_config(task, *MODES[finetune], *LAYOUTS[task], "budget.max_steps=20")
    summary = run_experiment(cfg, tmp_path / "run")
    glue = get_glue_task(task)
    splits = ["val_matched", "val_mismatched"] if task == "mnli" else ["val"]
    rows = curve(tmp_path / "run")
    # The loop may re-pick a labeled example, so a point can land past its label count (9 for 8): each point
    # is at or past its count, and the run ends at the label cap.
    labels = [int(r["num_labels"]) for r in rows]
    assert len(labels) >= 3 and labels == sorted(labels) and labels[-1] == 12
    assert all(n >= count for n, count in zip(labels, [4, 8, 12], strict=False))
    assert {f"{s}/{m}" for s in splits for m in glue.metrics} <= set(rows[0])
    assert summary["metric"] == {"name": f"{splits[0]}/{glue.primary_metric}", "mode": "max"}
    assert summary["run"]["model"] == "tiny"
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["final"]["num_labels"] == 12


def test_pool_protocol_runs_on_a_pair_task(glue_config, tmp_path):
    cfg = glue_config("mrpc", "acquisition=entropy", "head=mlp", "model.finetune=full", protocol="pool")
    summary = run_experiment(cfg, tmp_path / "run")
    assert set(summary["data"]) == {"train", "dev"} and summary["data"]["dev"].startswith("sha256:")
    assert [int(r["num_labels"]) for r in curve(tmp_path / "run")] == [4, 8, 12]
    assert {"val/f1", "val/acc", "val/nll"} <= set(summary["final"])


def test_stsb_regression_with_the_epinet_and_variance(glue_config, tmp_path):
    cfg = glue_config("stsb", "head=epinet", "acquisition=variance", "model.finetune=frozen")
    summary = run_experiment(cfg, tmp_path / "run")
    assert summary["metric"]["name"] == "val/pearson"
    assert {"val/pearson", "val/spearman"} <= set(summary["final"])
    assert "val/nll" not in summary["final"]  # no class probabilities for a regression task
    assert summary["final"]["train/loss"] > 0  # squared error of the scores


@pytest.mark.parametrize("priority", ["entropy", "margin", "var_ratios", "bald", "epig"])
def test_classification_priorities_refuse_stsb(glue_config, priority):
    with pytest.raises(ValueError, match=rf"priority '{priority}' needs class probabilities.*uniform, variance"):
        glue_config("stsb", f"acquisition={priority}", "model.finetune=frozen")


def test_encoder_dropout_head_runs_end_to_end(glue_config, tmp_path):
    cfg = glue_config("rte", "head=encoder_dropout", "acquisition=bald", "model.dropout_rate=0.2")
    summary = run_experiment(cfg, tmp_path / "run")
    assert summary["run"]["head"] == "encoder_dropout"
    assert summary["final"]["num_labels"] == 12


# Refused when the config is converted (to_experiment_config), before any data is read.
def test_encoder_dropout_refuses_a_frozen_encoder(glue_config):
    with pytest.raises(ValueError, match="encoder_dropout.*model.finetune=full"):
        glue_config("rte", "head=encoder_dropout", "model.finetune=frozen")


def test_encoder_dropout_refuses_model_identity():
    with pytest.raises(ValueError, match="model='identity'"):
        experiment_config([*TINY["prioritized"], "head=encoder_dropout", "acquisition=variance"])


def test_glue_task_refuses_model_identity(glue_dir):
    with pytest.raises(ValueError, match="model='identity' reads vectors.*valid models for task=sst2: minilm"):
        experiment_config(["task=sst2", f"task.data_dir={glue_dir}", "trainer.accelerator=cpu"])


# Every head in both protocols on a GLUE task (every priority with every head on [A, B, C] logits is
# covered in tests/test_heads.py); encoder_dropout needs an encoder that runs, so full fine-tuning.
HEAD_RUNS = [
    ("mlp", "entropy", "frozen"),
    ("epinet", "variance", "frozen"),
    ("dropout", "bald", "frozen"),
    ("ensemble", "epig", "frozen"),
    ("encoder_dropout", "variance", "full"),
]


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["prioritized", "pool"])
@pytest.mark.parametrize(("head", "priority", "finetune"), HEAD_RUNS)
def test_every_head_runs_in_both_protocols(glue_config, tmp_path, head, priority, finetune, protocol):
    cfg = glue_config(
        "sst2", f"head={head}", f"acquisition={priority}", f"model.finetune={finetune}", protocol=protocol
    )
    summary = run_experiment(cfg, tmp_path / "run")
    assert summary["run"]["head"] == head and summary["run"]["protocol"] == protocol
    assert summary["final"]["num_labels"] == 12
    assert {"val/acc", "val/nll"} <= set(summary["final"])
