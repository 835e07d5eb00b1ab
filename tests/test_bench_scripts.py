"""The benchmark scripts import against the package and parse their arguments; the bucket benchmark's count."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from epinet_al.active_learning.agent import length_order
from epinet_al.data.text_inputs import TokenizedInputs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # a script folder, not a package


@pytest.mark.parametrize(
    ("script", "argv", "values"),
    [
        ("acquisition_cost", ["--candidates", "40", "--parts", "2"], {"candidates": 40, "parts": 2, "passes": 1}),
        ("framework_overhead", ["--steps", "1", "--no-memory"], {"steps": 1, "rounds": 24, "memory": False}),
        ("scoring_buckets", ["--rounds", "3"], {"rounds": 3, "batch_size": 64, "candidates": 1000}),
        ("data_parallel", ["--rounds", "1"], {"rounds": 1, "steps": 30, "warmup": 5}),
        ("finetune_modes", ["--pool", "500"], {"pool": 500, "batch_size": 64, "candidates": 640, "rounds": 3}),
    ],
)
def test_bench_script_parses_its_arguments(script, argv, values):
    args = vars(importlib.import_module(script).build_parser().parse_args(argv))
    assert {key: args[key] for key in values} == values


def test_bench_script_rejects_an_unknown_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module("scoring_buckets").build_parser().parse_args(["--bogus"])
    assert exit_info.value.code == 2 and "--bogus" in capsys.readouterr().err


def test_bucketed_batches_compute_fewer_positions_than_random_ones():
    bench = importlib.import_module("scoring_buckets")
    lengths = torch.tensor([2, 9, 3, 8])
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    pool = TokenizedInputs(torch.ones(int(offsets[-1]), dtype=torch.int32), offsets, None, pad_id=0)
    candidates = torch.tensor([0, 1, 2, 3])
    unsorted = bench.UnsortedPool(pool)
    assert len(unsorted) == 4 and not hasattr(unsorted, "lengths")
    assert bench.token_positions(pool, candidates, length_order(unsorted, candidates, 2), 2) == 2 * 9 + 2 * 8
    assert bench.token_positions(pool, candidates, length_order(pool, candidates, 2), 2) == 2 * 9 + 2 * 3


@pytest.mark.slow  # 1-2 s per setting (11 compositions)
@pytest.mark.parametrize("name", importlib.import_module("paper").SETTINGS)
def test_paper_settings_compose_into_valid_runs(name, tmp_path):
    """Each setting's baseline and agent jobs are runs the CLI accepts (the GPU one: checked as SLURM jobs are)."""
    from tiny_configs import CONF_DIR, compose, initialize_config_dir

    from epinet_al.config import to_experiment_config

    paper = importlib.import_module("paper")
    setting = paper.SETTINGS[name]
    jobs = [paper.baseline_job(name, tmp_path, *setting.baseline_grid[0], 100)]
    jobs += [paper.agent_job(name, tmp_path, f"{head}-{priority}", *setting.agent_grid[-1], 100)
             for head, priority in setting.agents]  # fmt: skip
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for overrides, _ in jobs:
            cfg = to_experiment_config(compose(config_name="config", overrides=overrides), devices=not setting.gpu)
            assert f"{setting.lr_key}={setting.agent_grid[-1][1]}" in overrides or cfg.budget.protocol == "subset"


def test_paper_runs_the_cpu_settings_by_default():
    paper = importlib.import_module("paper")
    assert [name for name, setting in paper.SETTINGS.items() if setting.gpu] == ["sst2_bert"]
    assert paper.SETTINGS["sst2_bert"].lr_key == "model.lr"


def test_paper_tunes_the_baseline_per_fraction_and_each_agent_over_its_curve(tmp_path):
    """Per subset size the configuration with the best tuning metric; an agent's by its curve's mean; the
    reported seeds (below 100) never count; a baseline configuration then runs only at the fractions it won."""
    paper = importlib.import_module("paper")
    setting = paper.SETTINGS["D2_rho0.1"]  # chosen by test/nll, lower is better
    a, b = (paper.grid_name(*cfg) for cfg in setting.baseline_grid[:2])
    sizes = [paper.size(setting, f) for f in setting.fractions]  # 2, 6, ..., 200
    rows = [("subset", a, 100, n, 0.60 if n == 2 else 0.40) for n in sizes]  # a wins at 2 labels only
    rows += [("subset", b, 100, n, 0.65 if n == 2 else 0.30) for n in sizes]
    rows += [("subset", a, 0, n, 0.10) for n in sizes]  # a reported seed: never counts
    rows += [("epinet-variance", a, 100, 2, 0.30), ("epinet-variance", a, 100, 200, 0.50)]  # curve mean 0.40
    rows += [("epinet-variance", b, 100, 2, 0.45), ("epinet-variance", b, 100, 200, 0.45)]  # curve mean 0.45
    data = pd.DataFrame(rows, columns=["agent", "config", "seed", "num_labels", "test/nll"])
    per_size, per_agent = paper.choose(data, setting)
    assert per_size == {n: a if n == 2 else b for n in sizes} and per_agent == {"epinet-variance": a}
    jobs = paper.reported_jobs("D2_rho0.1", tmp_path, [0], (per_size, per_agent))
    fractions = {
        folder.split("/")[-2]: next(o for o in job if o.startswith("budget.fractions="))
        for job, folder in jobs
        if "/subset/" in folder
    }
    assert fractions == {
        a: "budget.fractions=[0.01]",
        b: f"budget.fractions=[{','.join(map(str, setting.fractions[1:]))}]",
    }


@pytest.mark.parametrize("name", ["sst2", "mnli", "cola", "stsb", "rte", "qnli"])
def test_paper_glue_settings_choose_on_the_tune_split_with_the_tasks_metric(name):
    """Never on the reported test split; the metric is the task's primary one (CoLA Matthews, STS-B Pearson)."""
    from epinet_al.data.glue_tasks import GLUE_TASKS

    paper = importlib.import_module("paper")
    setting = paper.SETTINGS[name]
    task = next(o.split("=")[1] for o in setting.task if o.startswith("task="))
    assert any(o.startswith("task.tune_size=") for o in setting.task)
    assert setting.select == f"tune/{GLUE_TASKS[task].primary_metric}" and setting.select_mode == "max"
    if GLUE_TASKS[task].is_regression:  # a regression's heads rank only by uniform or variance
        assert {priority for _, priority in setting.agents} == {"variance"}


def test_paper_diagnostics_leave_a_regressions_missing_entropy_column_empty(tmp_path):
    paper = importlib.import_module("paper")
    folder = tmp_path / "epinet-variance" / "seed0"
    folder.mkdir(parents=True)
    pd.DataFrame({"num_labels": [10, 20], "val/spread": [0.4, 0.2], "val/spread_cv": [0.1, 0.1]}).to_csv(
        folder / "curve.csv", index=False
    )
    row = paper.diagnostics(tmp_path).loc["epinet-variance"]
    assert (row["spread first"], row["spread last"]) == (0.4, 0.2) and row.isna()["spearman_var_ent last"]


def test_a_paper_setting_can_share_another_settings_baseline(tmp_path):
    """D2_rho0.1_labeled changes only the agents' loop: its baseline runs are D2_rho0.1's, read from there."""
    paper = importlib.import_module("paper")
    setting = paper.SETTINGS["D2_rho0.1_labeled"]
    root = tmp_path / "D2_rho0.1_labeled"
    _, folder = paper.baseline_job("D2_rho0.1_labeled", root, *setting.baseline_grid[0], 0)
    assert folder == str(paper.baseline_job("D2_rho0.1", tmp_path / "D2_rho0.1", *setting.baseline_grid[0], 0)[1])
    overrides, agent_folder = paper.agent_job("D2_rho0.1_labeled", root, "epinet-variance", *setting.agent_grid[0], 0)
    assert "budget.train_on=labeled" in overrides and agent_folder.startswith(str(root))
    for run in (
        "D2_rho0.1/subset/l2_0.3_lr_0.001/seed0",
        "D2_rho0.1/epinet-variance/l2_0.3_lr_0.001/seed0",
        "D2_rho0.1_labeled/epinet-variance/l2_0.3_lr_0.001/seed0",
        "D2_rho0.1_labeled/report_runs/x/seed0",
    ):
        (tmp_path / run).mkdir(parents=True)
        pd.DataFrame({"num_labels": [2], "test/nll": [0.5]}).to_csv(tmp_path / run / "curve.csv", index=False)
    data = paper.curves(root, setting)
    assert sorted(zip(data["agent"], data["folder"].str.split("/").str[-4], strict=True)) == [
        ("epinet-variance", "D2_rho0.1_labeled"), ("subset", "D2_rho0.1")]  # fmt: skip


def test_the_paper_report_fills_keys_added_since_a_run_was_made(tmp_path):
    """A run made before trainer.strategy or budget.train_on existed is the same agent as one made after."""
    paper = importlib.import_module("paper")
    config = {"head": {"l2_scale": 1.0}, "trainer": {"optimizer": {"lr": 1e-3}}, "budget": {"protocol": "prioritized"}}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text(json.dumps({"config": config}))
    new = paper.reported_summary(tmp_path / "old")["config"]
    assert new["trainer"] == {"optimizer": {"lr": "tuned"}, "strategy": "auto", "num_nodes": 1}
    assert new["budget"] == {"protocol": "prioritized", "train_on": "selected", "steps_per_draw": 1,
                             "train_batch_size": 0}  # fmt: skip
    config["budget"]["train_on"] = "labeled"
    (tmp_path / "old" / "summary.json").write_text(json.dumps({"config": config}))
    assert paper.reported_summary(tmp_path / "old")["config"]["budget"]["train_on"] == "labeled"  # kept
