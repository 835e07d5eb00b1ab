"""End-to-end runs on a tiny testbed: both protocols, determinism, label hygiene, refusals, the CLI."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

import epinet_al.experiment as experiment
from epinet_al.active_learning.agent import Agent
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.pool import pool_rounds
from epinet_al.experiment import run_experiment
from tests.cli_runs import run_cli
from tests.tiny_configs import TINY, TINY_PRIORITIZED, experiment_config

pytestmark = pytest.mark.usefixtures("single_thread")

MAX_LABELS = 20
METRIC_COLUMNS = ["step", "num_labels", "test/acc", "test/nll", "test/joint_nll"]


def run(out: Path, overrides: list[str]) -> Path:
    run_experiment(experiment_config(overrides), out)
    return out


@pytest.fixture(scope="module")
def seed0_runs(tmp_path_factory, request) -> dict[str, Path]:
    """One tiny run per protocol with seed 0, shared by the tests that only read its files."""
    request.getfixturevalue("single_thread")  # before the runs, whatever the fixture order
    root = tmp_path_factory.mktemp("seed0")
    return {protocol: run(root / protocol, overrides) for protocol, overrides in TINY.items()}


@pytest.mark.parametrize("protocol", list(TINY))
def test_run_writes_curve_and_summary(seed0_runs, protocol):
    out = seed0_runs[protocol]
    curve = pd.read_csv(out / "curve.csv")
    assert set(METRIC_COLUMNS) <= set(curve.columns)
    assert len(curve) >= 2
    assert curve["num_labels"].is_monotonic_increasing
    assert curve["step"].is_monotonic_increasing
    assert curve["num_labels"].max() <= MAX_LABELS
    assert curve["num_labels"].iloc[-1] == MAX_LABELS  # the whole budget gets used
    assert curve[METRIC_COLUMNS].notna().all().all()
    assert curve["test/acc"].between(0, 1).all()

    summary = json.loads((out / "summary.json").read_text())
    assert {"run", "metric", "final", "config", "versions"} <= set(summary)
    assert summary["data"] == {}  # the testbed reads no files: its data is its generating config
    assert summary["run"]["protocol"] == protocol
    assert summary["metric"]["name"] in curve.columns
    assert summary["final"]["num_labels"] == curve["num_labels"].iloc[-1]
    assert summary["final"]["test/nll"] == pytest.approx(curve["test/nll"].iloc[-1])
    assert summary["config"]["budget"]["max_labels"] == MAX_LABELS


def test_prioritized_evaluates_at_the_label_counts_and_the_end(seed0_runs):
    curve = pd.read_csv(seed0_runs["prioritized"] / "curve.csv")
    # eval_labels [5, 10, 20] are each crossed once (4 labels per step), then the last of 30 steps.
    assert len(curve) == 4
    assert curve["step"].iloc[-1] == 30


def test_pool_evaluates_every_round(seed0_runs):
    curve = pd.read_csv(seed0_runs["pool"] / "curve.csv")
    # 4 initial labels, then 4 per round up to 20; 5 training steps per round.
    assert curve["num_labels"].tolist() == [4, 8, 12, 16, 20]
    assert curve["step"].tolist() == [5, 10, 15, 20, 25]


class SeenSteps:
    """A Fabric callback that records the step of every training step it sees."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_before_train_step(self, step: int) -> None:
        self.steps.append(step)


def test_same_seed_gives_identical_curve(seed0_runs, tmp_path):
    """Also: a run calls its own Fabric callbacks before each training step, and they change nothing."""
    seen = SeenSteps()
    run_experiment(experiment_config(TINY_PRIORITIZED), tmp_path / "again", callbacks=[seen])
    assert (tmp_path / "again" / "curve.csv").read_bytes() == (seed0_runs["prioritized"] / "curve.csv").read_bytes()
    assert seen.steps == list(range(1, 31))  # 30 steps, one update each


def test_different_seeds_differ(seed0_runs, tmp_path):
    other = run(tmp_path / "seed1", [*TINY_PRIORITIZED, "seed=1"])
    assert (other / "curve.csv").read_bytes() != (seed0_runs["prioritized"] / "curve.csv").read_bytes()


class WatchedLabels(torch.Tensor):
    """Pool labels that record every read made from outside the ledger's module.

    Results are plain tensors, so what the ledger hands out is not watched any more.
    """

    reads: list[str]

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        frame = sys._getframe(1)
        while frame is not None and f"{os.sep}torch{os.sep}" in frame.f_code.co_filename:
            frame = frame.f_back  # skip torch's own Python layers to reach the caller
        caller = frame.f_code.co_filename if frame is not None else "?"
        if not caller.endswith(os.path.join("active_learning", "ledger.py")):
            for arg in args:
                if isinstance(arg, cls):
                    arg.reads.append(f"{getattr(func, '__name__', func)} from {caller}:{frame.f_lineno}")
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **(kwargs or {}))


@pytest.fixture
def watch_labels(monkeypatch):
    """Swap the task's pool labels for WatchedLabels and record every reveal request.

    Returns (watched labels, requests); each request is (pool indices, budget left before it).
    """
    state: dict = {"requests": []}
    build_task = experiment.build_task

    def build_watched_task(*args, **kwargs):
        task = build_task(*args, **kwargs)
        watched = task.pool_labels.as_subclass(WatchedLabels)
        watched.reads = []
        state["labels"] = watched
        return dataclasses.replace(task, pool_labels=watched)

    reveal = LabelLedger.reveal

    def recording_reveal(self: LabelLedger, indices: torch.Tensor) -> torch.Tensor:
        state["requests"].append((indices.tolist(), self.remaining))
        return reveal(self, indices)

    monkeypatch.setattr(experiment, "build_task", build_watched_task)
    monkeypatch.setattr(LabelLedger, "reveal", recording_reveal)
    return state


@pytest.mark.parametrize("protocol", list(TINY))
def test_pool_labels_are_only_read_by_the_ledger(watch_labels, tmp_path, protocol):
    run(tmp_path, TINY[protocol])
    labels, requests = watch_labels["labels"], watch_labels["requests"]
    assert labels.reads == []
    revealed = {i for request, _ in requests for i in request}
    assert len(revealed) == MAX_LABELS
    # The watch itself works: a read from here is caught.
    labels.sum()
    assert len(labels.reads) == 1


def test_prioritized_reveals_only_the_top_ranked_candidates(watch_labels, tmp_path, monkeypatch):
    """Each step reveals the batch_size best-ranked of that step's candidates, and nothing else."""
    steps: list[dict] = []
    score = Agent.score

    def recording_score(self, pool, candidates, *args, **kwargs):
        scores = score(self, pool, candidates, *args, **kwargs)
        # topk selection: the best scores first, ties in candidate order.
        steps.append({"ranked": candidates[torch.sort(scores, descending=True, stable=True).indices].tolist()})
        return scores

    monkeypatch.setattr(Agent, "score", recording_score)
    run(tmp_path, TINY_PRIORITIZED)

    requests = watch_labels["requests"]
    assert len(steps) == len(requests) == 30
    labeled: set[int] = set()
    for step, (request, remaining) in zip(steps, requests, strict=True):
        # Labeled candidates are free; new ones only while budget remains.
        affordable, new = [], 0
        for i in step["ranked"]:
            if i not in labeled:
                if new == remaining:
                    continue
                new += 1
            affordable.append(i)
        assert request == affordable[:4]
        labeled |= set(request)
    assert len(labeled) == MAX_LABELS


def test_uniform_replay_stops_scoring_once_the_budget_is_spent(watch_labels, tmp_path, monkeypatch):
    """replay=uniform: the acquisition steps are the priority loop's; then batches of labeled examples at random."""
    scored: list[int] = []
    score = Agent.score

    def recording_score(*args, **kwargs):
        scored.append(len(watch_labels["requests"]))
        return score(*args, **kwargs)

    monkeypatch.setattr(Agent, "score", recording_score)
    run(tmp_path, [*TINY_PRIORITIZED, "budget.replay=uniform"])
    requests = watch_labels["requests"]
    spent = next(i for i, (_, remaining) in enumerate(requests) if remaining == 0)
    assert scored == list(range(spent)) and 0 < spent < 30  # scored only while labels remained
    assert len(requests) == 30 and len({i for request, _ in requests for i in request}) == MAX_LABELS
    assert all(len(request) == 4 for request, _ in requests[spent:])  # n labeled examples per step


LABELED = [*TINY_PRIORITIZED, "budget.train_on=labeled", "budget.steps_per_draw=3", "budget.train_batch_size=6"]


def test_labeled_training_labels_the_top_n_then_trains_on_the_labeled_set(watch_labels, tmp_path, monkeypatch):
    """train_on=labeled: per step the top n join the labeled set (while budget remains, one scoring), then
    steps_per_draw updates of train_batch_size labeled examples each (the reference's testbed experiment)."""
    scored: list[int] = []
    trained: list[tuple[int, int, int]] = []  # (step, batch size, labels at the update)
    score, train = Agent.score, Agent.train

    def recording_score(*args, **kwargs):
        scored.append(len(watch_labels["requests"]))
        return score(*args, **kwargs)

    def recording_train(self, batch, **kwargs):
        trained.append((kwargs["step"], batch[1].shape[0], kwargs["num_labels"]))
        return train(self, batch, **kwargs)

    monkeypatch.setattr(Agent, "score", recording_score)
    monkeypatch.setattr(Agent, "train", recording_train)
    run(tmp_path, LABELED)

    requests = watch_labels["requests"]
    labeled: set[int] = set()
    steps_labeling = 0
    position = 0
    for _step in range(30):
        if len(labeled) < MAX_LABELS:  # the step's labeling: at most n, new or not
            indices, remaining = requests[position]
            assert len(indices) <= 4 and remaining == MAX_LABELS - len(labeled)
            labeled |= set(indices)
            position += 1
            steps_labeling += 1
        for _ in range(3):  # then three updates on labeled examples only
            indices, _ = requests[position]
            assert len(indices) == 6 and set(indices) <= labeled
            position += 1
    assert position == len(requests) and len(labeled) == MAX_LABELS
    assert len(scored) == steps_labeling < 30  # no scoring once every label is revealed
    assert [(step, size) for step, size, _ in trained] == [(step, 6) for step in range(1, 31) for _ in range(3)]
    assert all(labels <= MAX_LABELS for _, _, labels in trained)
    assert pd.read_csv(tmp_path / "curve.csv")["step"].iloc[-1] == 30


@pytest.mark.slow
def test_labeled_training_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, capsys):
    reference = run(tmp_path / "reference", LABELED)
    folder = tmp_path / "run"
    args = [*LABELED, f"hydra.run.dir={folder}"]

    class CrashAtStep5:  # a Fabric callback
        def on_before_train_step(self, step: int) -> None:
            if step == 5:
                raise FloatingPointError("simulated crash")  # the CLI ends such a run with exit 2, state kept

    with monkeypatch.context() as patch:
        patch.setattr(experiment, "run_experiment", functools.partial(run_experiment, callbacks=[CrashAtStep5()]))
        assert run_cli(args, monkeypatch, capsys).code == 2
    assert not (folder / "summary.json").exists()
    assert run_cli(args, monkeypatch, capsys).code == 0
    assert (folder / "curve.csv").read_bytes() == (reference / "curve.csv").read_bytes()


def test_labeled_training_options_need_train_on_labeled():
    with pytest.raises(ValueError, match="budget.steps_per_draw=3 and budget.train_batch_size=0 apply to"):
        experiment_config([*TINY_PRIORITIZED, "budget.steps_per_draw=3"])
    with pytest.raises(ValueError, match="unknown budget.train_on 'all'; valid choices: selected, labeled"):
        experiment_config([*TINY_PRIORITIZED, "budget.train_on=all"])


# Refused when the config is converted (experiment_config runs to_experiment_config), before any run.
def test_unknown_replay_is_refused():
    with pytest.raises(ValueError, match="unknown budget.replay 'sometimes'; valid choices: priority, uniform"):
        experiment_config([*TINY_PRIORITIZED, "budget.replay=sometimes"])


def test_epistemic_priority_needs_an_index():
    with pytest.raises(ValueError, match="bald") as info:
        experiment_config([*TINY_PRIORITIZED, "head=mlp", "acquisition=bald"])
    assert "mlp" in str(info.value)


def test_batch_larger_than_candidates_is_refused():
    with pytest.raises(ValueError, match="batch_size=11") as info:
        experiment_config([*TINY_PRIORITIZED, "budget.batch_size=11"])
    assert "candidate_batch_size=10" in str(info.value)


@pytest.mark.slow
def test_cli_runs_in_a_subprocess(seed0_runs, tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "epinet_al", *TINY_PRIORITIZED, f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "summary.json").exists()
    # The command composes and converts the config exactly as the tests do: the same run.
    assert (tmp_path / "curve.csv").read_bytes() == (seed0_runs["prioritized"] / "curve.csv").read_bytes()


def test_a_points_metrics_depend_on_the_model_alone(seed0_runs, tmp_path):
    """Issue 20: the same weights gave a final test/nll of 0.519 or 0.602 by the evaluation points before."""
    fewer = run(tmp_path / "fewer", [*TINY_PRIORITIZED, "budget.eval_labels=[10,20]"])
    final, other = (pd.read_csv(out / "curve.csv").iloc[-1] for out in (seed0_runs["prioritized"], fewer))
    held_out = [c for c in final.index if not c.startswith("train/")]  # train/loss averages since the last point
    assert len(pd.read_csv(fewer / "curve.csv")) < len(pd.read_csv(seed0_runs["prioritized"] / "curve.csv"))
    assert {"test/nll", "test/spread_change", "pool/seen_unseen", "pool/overlap_index"} <= set(held_out)
    pd.testing.assert_series_equal(final[held_out], other[held_out], check_names=False)


def test_a_model_that_predicts_one_class_is_flagged_in_the_summary(caplog):
    """`make run`'s models predicted one class with a low training loss: the collapse flag stayed off."""
    task = SimpleNamespace(primary_metric="test/nll", num_outputs=2)
    with caplog.at_level(logging.WARNING):
        flags = experiment.final_diagnostics({"test/majority_fraction": 1.0, "train/loss": 0.1}, task)
    assert flags == {"one_class": True, "collapsed": False}
    assert "the model predicts one class: 100.0% of test predictions are the same class" in caplog.text
    assert experiment.final_diagnostics({"test/majority_fraction": 0.9, "train/loss": 0.1}, task)["one_class"] is False


def test_the_pool_protocol_shows_its_progress_in_rounds(tmp_path, capfd):
    """The README's pool example ran 15 rounds of 1,000 steps behind a bar that counted labels ("labels: 33%,
    9.4 s/it"); a round is the unit of work."""
    run_experiment(experiment_config([*TINY["pool"], "progress_bar=true"]), tmp_path)
    bar = capfd.readouterr().err.replace("\r", "\n")
    # 20 labels: the initial 4, then 4 acquisitions of 4: 5 rounds.
    assert "rounds: 100%" in bar and "5/5" in bar and "labels=20" in bar
    assert pool_rounds(SimpleNamespace(initial_labels=10, acquire_size=10), 150) == 15
