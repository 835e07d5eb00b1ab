"""The GLUE benchmark's bookkeeping: the grid it runs, the configuration it keeps, the curves it reports."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from epinet_al.report import summarize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import glue_efficiency as bench  # noqa: E402  (a script folder, not a package)

SST2 = bench.TASKS["sst2"]


def test_agents_match_the_task():
    assert bench.agents(SST2, ("mlp", "epinet", "dropout", "ensemble")) == [
        ("mlp", "uniform"),
        ("epinet", "uniform"),
        ("mlp", "entropy"),
        ("epinet", "variance"),
        ("dropout", "variance"),
        ("ensemble", "variance"),
    ]
    assert ("mlp", "margin") in bench.agents(bench.TASKS["mnli"], ("mlp",))  # margin differs on 3 classes
    assert ("mlp", "entropy") not in bench.agents(bench.TASKS["stsb"], ("mlp", "epinet"))  # regression


def test_every_job_spends_its_budget_and_trains_ten_epochs(tmp_path):
    mode = bench.MODES["frozen"]
    points = [("epinet", "variance", 1600, 1e-3, 16), ("mlp", "uniform", 100, 1e-2, 64)]
    jobs = bench.jobs_for(SST2, mode, "frozen", tmp_path, points, range(2), ["trainer=gpu"])
    assert len(jobs) == 4 and jobs[0][1] == str(tmp_path / "epinet/variance/b1600/lr0.001_bs16/seed0")
    overrides = dict(o.split("=", 1) for o in jobs[0][0])
    assert overrides["budget.max_labels"] == "1600" and overrides["budget.max_steps"] == "1000"  # 10 x 1600 / 16
    assert overrides["task.tune_size"] == "500" and overrides["trainer.optimizer.lr"] == "0.001"
    assert jobs[0][0][-1] == "trainer=gpu"  # extra overrides come last, so they win
    small = dict(o.split("=", 1) for o in jobs[2][0])
    assert small["budget.max_steps"] == str(bench.MIN_STEPS) and small["budget.candidate_batch_size"] == "640"


def finals_table() -> pd.DataFrame:
    """Two agents x two budgets x two configurations x three seeds, with known tune and dev accuracies."""
    rows = []
    for agent, budget, lr, seed in pd.MultiIndex.from_product(
        [["mlp/uniform", "epinet/variance"], [100, 200], [1e-3, 1e-2], [0, 1, 2]]
    ):
        # lr 1e-2 is better on the tune split of the tuning seeds (0, 1) and much worse on seed 2, which
        # must not count: seed 2 is not a tuning seed.
        tune = 0.7 + (0.1 if lr == 1e-2 else 0.0) - (0.5 if (lr == 1e-2 and seed == 2) else 0.0)
        dev = 0.6 + budget / 1000 + (0.05 if agent == "epinet/variance" else 0.0) + seed / 100 + lr / 10
        head, priority = agent.split("/")
        rows.append(
            dict(task="sst2", agent=agent, head=head, priority=priority, budget=budget, lr=lr, batch_size=16,
                 seed=seed, num_labels=budget, step=100, **{"tune/acc": tune, "val/acc": dev, "tune/nll": 0.5})
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_configs_are_chosen_on_the_tune_split_of_the_tuning_seeds():
    chosen = bench.choose_configs(finals_table(), SST2, tune_seeds=2)
    assert len(chosen) == 4 and (chosen["lr"] == 1e-2).all()
    assert chosen["tune_mean"].tolist() == pytest.approx([0.8] * 4)


def test_matched_label_curves_go_through_the_report():
    finals = finals_table()
    chosen = bench.choose_configs(finals, SST2, tune_seeds=2)
    runs = bench.matched_label_runs(finals, chosen, SST2)
    assert len(runs) == 2 * 2 * 3 and not any(c.startswith("tune/") for c in runs.columns)
    table = summarize(runs, baseline="mlp/uniform").tasks[0].table
    # The epinet is 0.05 better on every seed and budget: a paired difference with no spread.
    assert table.at["epinet/variance", "auc_diff_mean"] == pytest.approx(0.05)
    assert table.at["epinet/variance", "auc_diff_ci"] == pytest.approx(0.0, abs=1e-12)
    # Only the chosen configuration's runs (lr 1e-2, which adds 0.001) make the curve.
    assert table.at["mlp/uniform", "final_mean"] == pytest.approx(0.6 + 0.2 + 0.01 + 0.001)
