"""The comparison report on hand-made sweeps whose statistics can be computed by hand.

Curve values are binary fractions (0.875, 0.0625, ...) so means and areas come out exact.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from epinet_al.report import ReportError, load_sweep, summarize, write_report
from epinet_al.report.cli import main
from epinet_al.report.compare import Band
from epinet_al.report.html import header
from epinet_al.report.markdown import render_markdown
from epinet_al.report.plots import y_limits
from epinet_al.report.stats import (
    band_limits,
    labels_to_reach,
    normalized_auc,
    savings_error_bars,
    savings_read_off,
    seed_matrix,
    t_interval,
    win_matrix,
)

LABELS = [0, 25, 50, 75, 100]
# testbed, test/nll (min). Baseline: linear 1.0 -> 0.5 over 100 labels, AUC 0.75, reaches 0.5 at 100.
UNIFORM = [1.0, 0.875, 0.75, 0.625, 0.5]
# Reaches 0.5 at 50 labels (savings 100 / 50 = 2), AUC (21.875 + 15.625 + 25) / 100 = 0.625.
VARIANCE = [1.0, 0.75, 0.5, 0.5, 0.5]
# Never reaches 0.5; AUC 0.8.
ENTROPY = [1.0, 0.9, 0.8, 0.7, 0.6]
# Evaluated elsewhere: crosses 0.5 at 40 + (0.5 - 0.6) / (0.45 - 0.6) * 60 = 80 labels, AUC 0.635.
BALD_LABELS, BALD = [0, 40, 100], [1.0, 0.6, 0.45]


def write_run(
    root: Path,
    name: str,
    agent: str,
    seed: int,
    labels: list[int],
    values: list[float],
    task: str = "testbed",
    metric: str = "test/nll",
    mode: str = "min",
    finished: bool = True,
    extra: dict[str, list[float]] | None = None,
    config: dict | None = None,
) -> Path:
    """One run folder: curve.csv with `metric` = `values`, and summary.json if `finished`
    (with `config` as the resolved config; none by default, as in summaries that lack it)."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    head, priority = agent.split("/")
    curve = pd.DataFrame({"step": range(len(labels)), "num_labels": labels, metric: values, **(extra or {})})
    curve.to_csv(run_dir / "curve.csv", index=False)
    if finished:
        run = {"task": task, "model": "mlp", "head": head, "priority": priority}
        run |= {"protocol": "prioritized", "seed": seed, "agent": agent}
        summary = {"run": run, "metric": {"name": metric, "mode": mode}, "final": {}, "config": config or {}}
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def offset(values: list[float], delta: float) -> list[float]:
    return [v + delta for v in values]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """testbed (nll, min): 4 agents; sst2 (accuracy, max): 3 agents; plus one unfinished run."""
    root = tmp_path / "sweep"
    acc = {"test/acc": [0.5, 0.6, 0.7, 0.8, 0.9]}
    for seed, delta in [(0, 0.0625), (1, -0.0625)]:
        write_run(root, f"tb/uniform/{seed}", "mlp/uniform", seed, LABELS, offset(UNIFORM, delta), extra=acc)
        write_run(root, f"tb/variance/{seed}", "epinet/variance", seed, LABELS, offset(VARIANCE, delta))
    write_run(root, "tb/entropy/0", "mlp/entropy", 0, LABELS, ENTROPY)
    write_run(root, "tb/bald/0", "ensemble/bald", 0, BALD_LABELS, BALD)
    write_run(root, "tb/bald/1", "ensemble/bald", 1, LABELS, UNIFORM, finished=False)
    glue = {"task": "sst2", "metric": "val/accuracy", "mode": "max"}
    write_run(root, "sst2/uniform", "mlp/uniform", 0, LABELS, [0.5, 0.55, 0.6, 0.65, 0.7], **glue)
    write_run(root, "sst2/variance", "epinet/variance", 0, LABELS, [0.5, 0.6, 0.7, 0.7, 0.7], **glue)
    write_run(root, "sst2/entropy", "mlp/entropy", 0, LABELS, [0.5, 0.8, 0.85, 0.9, 0.9], **glue)
    return root


def test_t_interval_three_seeds() -> None:
    mean, half_width = t_interval(np.array([1.0, 2.0, 3.0]))
    # sd 1, t_{0.975, 2} = 4.302652729911275.
    assert float(mean) == 2.0
    assert float(half_width) == pytest.approx(4.302652729911275 / math.sqrt(3))
    mean, half_width = t_interval(np.array([[0.5, 1.0]]))
    assert mean.tolist() == [0.5, 1.0] and np.isnan(half_width).all()


def test_seed_matrix_holds_last_value_and_never_extrapolates_before_first_point() -> None:
    grid = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    short = (np.array([10.0, 20.0]), np.array([1.0, 0.0]))
    long = (np.array([0.0, 30.0]), np.array([3.0, 0.0]))
    matrix = seed_matrix([short, long], grid)
    assert matrix[0, 0] != matrix[0, 0]  # NaN before the short seed's first point
    assert matrix[0, 1:4].tolist() == [1.0, 0.0, 0.0]  # held at its last value up to the agent's end
    assert matrix[1, :4].tolist() == [3.0, 2.0, 1.0, 0.0]
    assert np.isnan(matrix[:, 4]).all()  # beyond the agent's longest seed


def test_auc_and_labels_to_reach_by_hand() -> None:
    curve = (np.array(BALD_LABELS, dtype=float), np.array(BALD))
    assert normalized_auc(curve, 0.0, 100.0) == pytest.approx(0.635)
    # On a sub-range: the average of the line 1.0 -> 0.6 over [20, 40] is 0.7.
    assert normalized_auc(curve, 20.0, 40.0) == pytest.approx(0.7)
    assert labels_to_reach(curve[0], curve[1], 0.5, "min") == pytest.approx(80.0)
    assert labels_to_reach(curve[0], curve[1], 1.0, "min") == 0.0
    assert math.isnan(labels_to_reach(curve[0], curve[1], 0.4, "min"))
    assert labels_to_reach(curve[0], 1 - curve[1], 0.5, "max") == pytest.approx(80.0)


def test_load_sweep_skips_unfinished_and_keeps_last_row_per_label_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_run(tmp_path, "done", "mlp/uniform", 0, [0, 10, 10, 20], [1.0, 0.9, 0.8, 0.7])
    write_run(tmp_path, "running", "mlp/uniform", 1, [0, 10], [1.0, 0.9], finished=False)
    with caplog.at_level(logging.WARNING):
        runs = load_sweep(tmp_path).runs
    assert "running" in caplog.text and "unfinished" in caplog.text
    assert runs["run"].unique().tolist() == ["done"]
    assert runs["num_labels"].tolist() == [0, 10, 20]
    assert runs["test/nll"].tolist() == [1.0, 0.8, 0.7]
    assert runs[["task", "agent", "seed", "metric", "mode"]].iloc[0].tolist() == [
        "testbed",
        "mlp/uniform",
        0,
        "test/nll",
        "min",
    ]


def test_summary_table_by_hand(sweep: Path) -> None:
    summary = summarize(load_sweep(sweep).runs)
    testbed = summary.tasks[1]
    assert (testbed.task, testbed.metric, testbed.mode, testbed.baseline) == (
        "testbed",
        "test/nll",
        "min",
        "mlp/uniform",
    )
    table = testbed.table
    # Best AUC first.
    assert table.index.tolist() == ["epinet/variance", "ensemble/bald", "mlp/uniform", "mlp/entropy"]
    assert table["auc_mean"].tolist() == pytest.approx([0.625, 0.635, 0.75, 0.8])
    assert table["final_mean"].tolist() == pytest.approx([0.5, 0.45, 0.5, 0.6])
    assert table["seeds"].tolist() == [2, 1, 2, 1]
    # Two seeds at +-0.0625: sd 0.0625 * sqrt(2), CI half-width t_{0.975, 1} * 0.0625.
    t1 = 12.706204736174698
    assert table.at["mlp/uniform", "final_ci"] == pytest.approx(t1 * 0.0625)
    assert table.at["epinet/variance", "auc_ci"] == pytest.approx(t1 * 0.0625)
    assert math.isnan(table.at["ensemble/bald", "final_ci"])
    reach = table["labels_to_reach"]
    assert reach["mlp/uniform"] == 100.0 and reach["epinet/variance"] == 50.0
    assert reach["ensemble/bald"] == pytest.approx(80.0) and math.isnan(reach["mlp/entropy"])
    savings = table["savings"]
    assert savings["epinet/variance"] == 2.0 and savings["mlp/uniform"] == 1.0
    assert savings["ensemble/bald"] == pytest.approx(1.25) and math.isnan(savings["mlp/entropy"])
    # Paired with the baseline seed by seed: variance is 0.125 better on both seeds (no spread), the
    # one-seed agents differ from the baseline's seed 0 (AUC 0.8125) with no interval.
    diff = table["auc_diff_mean"]
    assert diff["epinet/variance"] == pytest.approx(-0.125) and table.at["epinet/variance", "auc_diff_ci"] == 0.0
    assert diff["ensemble/bald"] == pytest.approx(0.635 - 0.8125) and diff["mlp/entropy"] == pytest.approx(-0.0125)
    assert math.isnan(table.at["ensemble/bald", "auc_diff_ci"]) and math.isnan(diff["mlp/uniform"])
    # test/acc is plotted beside the primary metric, for the agents that logged it.
    assert list(testbed.bands) == ["test/nll", "test/acc"]
    assert list(testbed.bands["test/acc"]) == ["mlp/uniform"]


def test_mode_max_ranks_higher_first(sweep: Path) -> None:
    sst2 = summarize(load_sweep(sweep).runs).tasks[0]
    assert (sst2.task, sst2.mode) == ("sst2", "max")
    assert sst2.table.index.tolist() == ["mlp/entropy", "epinet/variance", "mlp/uniform"]
    # Target 0.7: variance reaches it at 50, entropy between 0 and 25 (0.5 -> 0.8) at 50/3.
    assert sst2.table.at["epinet/variance", "savings"] == pytest.approx(100 / 50)
    assert sst2.table.at["mlp/entropy", "labels_to_reach"] == pytest.approx(50 / 3)


def test_win_matrix_across_two_tasks(sweep: Path) -> None:
    wins = summarize(load_sweep(sweep).runs).wins
    # testbed (AUC order): variance > bald > uniform > entropy; sst2: entropy > variance > uniform.
    assert wins.index.tolist() == ["epinet/variance", "ensemble/bald", "mlp/entropy", "mlp/uniform"]
    assert wins["wins"].tolist() == [4, 2, 2, 1]
    assert wins.at["epinet/variance", "mlp/uniform"] == 2
    assert wins.at["epinet/variance", "mlp/entropy"] == 1
    assert wins.at["mlp/entropy", "epinet/variance"] == 1
    assert wins.at["ensemble/bald", "epinet/variance"] == 0
    assert wins.at["mlp/uniform", "ensemble/bald"] == 0


def test_win_matrix_ignores_missing_agents_and_ties() -> None:
    auc = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, np.nan]}, index=["t1", "t2"])
    wins = win_matrix(auc, pd.Series({"t1": "min", "t2": "max"}))
    assert wins.to_numpy().sum() == 0


def test_baseline_and_metric_overrides(sweep: Path, tmp_path: Path) -> None:
    runs = load_sweep(sweep).runs
    table = summarize(runs, baseline="epinet/variance").tasks[1].table
    # Target 0.5 is the variance agent's own final; uniform reaches it at 100: savings 50 / 100.
    assert table.at["mlp/uniform", "savings"] == 0.5
    with pytest.raises(ReportError, match="'nope/uniform'.*valid: .*epinet/variance"):
        summarize(runs, baseline="nope/uniform")
    with pytest.raises(ReportError, match="'test/acc'.*valid: none"):
        summarize(runs, metric="test/acc", mode="max")
    only_testbed = load_sweep(sweep / "tb").runs
    task = summarize(only_testbed, metric="test/nll", mode="max").tasks[0]
    assert task.mode == "max" and task.table.index[0] == "mlp/entropy"


def test_write_report_files(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = write_report(summarize(load_sweep(sweep).runs), out)
    assert report == out / "report.md"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "report.html",
        "report.md",
        "savings.csv",
        "sst2.png",
        "summary.csv",
        "testbed.png",
        "win_matrix.png",
    ]
    assert all((out / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names if n.endswith(".png"))
    text = report.read_text()
    assert "![testbed](testbed.png)" in text and "![win matrix](win_matrix.png)" in text
    variance_row = (
        "| **epinet/variance** | 2 | 0.5000 ± 0.7941 | 100 | 0.6250 ± 0.7941 | -0.1250 ± 0.0000 | 50 | 2.00× |"  # noqa: E501
    )
    assert variance_row in text
    assert "| mlp/entropy | 1 | 0.6000 | 100 | 0.8000 | -0.0125 | — | — |" in text
    assert "| mlp/uniform (baseline) |" in text
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 7
    row = table[(table["task"] == "testbed") & (table["agent"] == "epinet/variance")].iloc[0]
    assert row["savings"] == 2.0 and row["auc_mean"] == pytest.approx(0.625) and not row["baseline"]
    # Savings read-off (see test_savings_read_off_in_the_summary): one row per agent and baseline point.
    savings = pd.read_csv(out / "savings.csv")
    assert savings.columns.tolist()[:4] == ["task", "agent", "target_labels", "target_value"]
    assert len(savings) == 4 * 4 + 3 * 4
    assert "| agent | 25 (0.875) | 50 (0.75) | 75 (0.625) | 100 (0.5) final |" in text
    assert "| mlp/entropy | 0.80× | 0.80× | 0.80× | — (1/1 never) |" in text
    # The win matrix numbers its columns (long agent names as headers made it pages wide); no self-comparison.
    assert "| # | agent | 1 | 2 | 3 | 4 | wins |" in text
    assert "| 1 | epinet/variance | — | 1 | 1 | 2 | 4 |" in text
    html = (out / "report.html").read_text()
    assert "<td>epinet/variance</td>\n      <td>—</td>" in html  # the HTML's diagonal said 0
    assert "https://" not in html.split("<body>")[1].split("<script")[0]  # no links out of the page
    assert html.count("Plotly.newPlot") == 5  # testbed: nll, acc, savings; sst2: accuracy, savings


@pytest.mark.slow  # renders a whole report (~3 s of plotting on an idle core)
def test_cli_writes_report_to_default_folder(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep)]) == 0
    assert capsys.readouterr().out.strip() == str(sweep / "report" / "report.md")
    assert (sweep / "report" / "report.md").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}"], "sweep folder not found: {missing}"),
        (["{empty}"], "no finished runs"),
        (["{sweep}", "--metric", "val/nope", "--mode", "min"], "unknown metric column 'val/nope'"),
        (["{sweep}", "--metric", "test/nll"], "give both or neither"),
        (["{sweep}", "--baseline", "nope/uniform"], "unknown baseline agent 'nope/uniform'"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(
    sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "sweep": sweep}
    paths["empty"].mkdir()
    write_run(paths["empty"], "running", "mlp/uniform", 0, LABELS, UNIFORM, finished=False)
    out = tmp_path / "out"
    assert main([a.format(**paths) for a in args] + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message.format(**paths) in err
    assert err.strip().splitlines()[-1].startswith("epinet-al-report: error: ")
    assert not out.exists()


def test_band_limits_clip_to_the_metric_range_by_name() -> None:
    mean, half = np.array([0.1, 0.9]), np.array([0.5, 0.5])
    assert [a.tolist() for a in band_limits("test/acc", mean, half)] == [[0.0, 0.4], [0.6, 1.0]]
    assert [a.tolist() for a in band_limits("val/matthews", mean - 1, half)] == [[-1.0, -0.6], [-0.4, 0.4]]
    lower, upper = band_limits("test/nll", mean, half)
    assert lower.tolist() == [0.0, 0.4] and upper.tolist() == [0.6, 1.4]
    lower, upper = band_limits("val/mystery", mean, half)  # unknown metric: not clipped
    assert lower.tolist() == pytest.approx([-0.4, 0.4]) and upper.tolist() == pytest.approx([0.6, 1.4])
    nan = band_limits("test/acc", mean, np.full(2, np.nan))
    assert np.isnan(nan[0]).all() and np.isnan(nan[1]).all()


def test_savings_read_off_by_hand_with_seeds_that_never_reach() -> None:
    # Baseline seed-mean curve (min mode): 0 labels is left out, targets 0.8 at 20 and 0.6 at 40.
    targets = (np.array([0.0, 20.0, 40.0]), np.array([1.0, 0.8, 0.6]))
    seeds = [
        (np.array([0.0, 10.0, 20.0]), np.array([1.0, 0.8, 0.6])),  # reaches 0.8 at 10, 0.6 at 20
        (np.array([0.0, 40.0]), np.array([1.0, 0.6])),  # linear: 0.8 at 20, 0.6 at 40
        (np.array([0.0, 40.0]), np.array([1.0, 0.7])),  # 0.8 at 40 * 0.2 / 0.3 = 80/3, never 0.6
    ]
    table = savings_read_off(targets, seeds, "min")
    assert table["target_labels"].tolist() == [20.0, 40.0]
    assert table["reached_seeds"].tolist() == [3, 2] and table["seeds"].tolist() == [3, 3]
    labels = [10.0, 20.0, 80 / 3]
    assert table.at[0, "labels_mean"] == pytest.approx(np.mean(labels))
    assert table.at[0, "labels_ci"] == pytest.approx(4.302652729911275 * np.std(labels, ddof=1) / math.sqrt(3))
    ratios = [2.0, 1.0, 0.75]
    assert table.at[0, "savings_mean"] == pytest.approx(np.mean(ratios))
    assert table.at[0, "savings_ci"] == pytest.approx(4.302652729911275 * np.std(ratios, ddof=1) / math.sqrt(3))
    # 0.6: seeds 0 and 1 at 20 and 40 labels; seed 2 never.
    assert table.at[1, "labels_mean"] == 30.0 and table.at[1, "savings_mean"] == pytest.approx(1.5)
    assert table.at[1, "savings_ci"] == pytest.approx(12.706204736174698 * 0.5)
    never = savings_read_off((np.array([10.0]), np.array([0.1])), seeds, "min")
    assert never["reached_seeds"].tolist() == [0] and never[["labels_mean", "savings_mean"]].isna().all(axis=None)
    # Mode max: a better target is a higher value.
    assert savings_read_off(targets, [(s[0], -s[1]) for s in seeds], "max").empty is False
    up = savings_read_off((np.array([20.0]), np.array([-0.8])), [(s[0], -s[1]) for s in seeds], "max")
    assert up.at[0, "labels_mean"] == pytest.approx(np.mean(labels))


def test_savings_error_bars_stop_at_zero() -> None:
    # The trial's N6: the bars of a few skewed seeds reached -2.1 for a ratio of label counts.
    rows = pd.DataFrame({"savings_mean": [0.77, 2.0, 1.5], "savings_ci": [2.87, 0.5, np.nan]})
    below, above = savings_error_bars(rows)
    assert below.tolist() == [0.77, 0.5, 0.0] and above.tolist() == [2.87, 0.5, 0.0]


def test_savings_read_off_in_the_summary(sweep: Path) -> None:
    savings = summarize(load_sweep(sweep).runs).tasks[1].savings
    variance = savings[savings["agent"] == "epinet/variance"].reset_index(drop=True)
    # Baseline points: (25, 0.875), (50, 0.75), (75, 0.625), (100, 0.5). Variance seed 0 (+0.0625)
    # is 1.0625, 0.8125, 0.5625, ... and never reaches 0.5; seed 1 (0.6875 at 25, 0.4375 at 50)
    # reaches it at 25 + 25 * 0.1875 / 0.25 = 43.75.
    assert variance["target_value"].tolist() == [0.875, 0.75, 0.625, 0.5]
    assert variance["reached_seeds"].tolist() == [2, 2, 2, 1]
    # 0.875: seed 0 at 25 * (1.0625 - 0.875) / 0.25 = 18.75, seed 1 at 6.25: mean 12.5.
    assert variance.at[0, "labels_mean"] == pytest.approx(12.5)
    assert variance.at[0, "savings_mean"] == pytest.approx((25 / 18.75 + 25 / 6.25) / 2)
    assert variance.at[3, "labels_mean"] == pytest.approx(43.75) and math.isnan(variance.at[3, "savings_ci"])


def resolved_config(  # fmt: skip
    seed: int,
    protocol: str = "prioritized",
    input_dim: int = 10,
    head: str = "epinet",
    priority: str = "variance",
    **changes: object,
) -> dict:
    """A resolved config shaped like summary.json's; `changes` set dotted keys (None removes one)."""
    budgets = {
        "prioritized": {"protocol": "prioritized", "max_labels": 100, "batch_size": 10, "candidate_batch_size": 100},
        "pool": {"protocol": "pool", "max_labels": 100, "batch_size": 32, "initial_labels": 10, "acquire_size": 10},
    }
    heads = {
        "epinet": {"name": "epinet", "hidden": [50, 50], "index_dim": 8},
        "mlp": {"name": "mlp", "hidden": [50, 50]},
    }
    config = {
        "task": {"name": "testbed", "input_dim": input_dim, "seed": seed, "temperature": 0.1},
        "model": {"name": "identity"},
        "head": heads[head],
        "acquisition": {"priority": priority, "num_index_samples": 100},
        "budget": budgets[protocol],
        "trainer": {"optimizer": {"lr": 0.001}, "num_threads": seed + 1},
        "logger": {"name": "none" if seed else "wandb"},
        "seed": seed,
        "sweep": f"sweep{seed}",
        "progress_bar": bool(seed % 2),
        "resume": None,
        "keep_state": True,
    }
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = config
        for part in path:
            node = node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return config


def test_runs_with_different_settings_are_different_agents(tmp_path: Path) -> None:
    # The trial's repro: two pool-protocol runs and a prioritized run of epinet/variance in one folder.
    # Seeds differ in bookkeeping keys only (logger, threads, ...).
    for seed in (1, 2):
        config = resolved_config(seed, protocol="pool")
        write_run(
            tmp_path, f"pool/seed{seed}", "epinet/variance", seed, LABELS, offset(VARIANCE, seed / 64), config=config
        )
    write_run(tmp_path, "prio/seed0", "epinet/variance", 0, LABELS, UNIFORM, config=resolved_config(0))
    write_run(
        tmp_path,
        "mlp/seed0",
        "mlp/uniform",
        0,
        LABELS,
        UNIFORM,
        config=resolved_config(0, head="mlp", priority="uniform"),
    )
    sweep = load_sweep(tmp_path)
    runs = sweep.runs
    pool = "epinet/variance [budget.protocol=pool]"
    prioritized = "epinet/variance [budget.protocol=prioritized]"
    # mlp has no index_dim and prioritized's own keys are no setting of the pool runs: not listed.
    mlp = "mlp/uniform [budget.protocol=prioritized]"
    assert runs.groupby("agent")["seed"].unique().map(sorted).to_dict() == {pool: [1, 2], prioritized: [0], mlp: [0]}
    assert [c for c in runs.columns if c.startswith("config.")] == ["config.budget.protocol"]
    task = summarize(runs).tasks[0]
    assert task.settings == ["budget.protocol"] and task.table.at[pool, "seeds"] == 2
    out = tmp_path / "report"
    text = write_report(task_summary := summarize(runs), out, skipped=sweep.skipped).read_text()
    assert task_summary.tasks[0].baseline == mlp
    assert "Settings that differ between this task's agents (shown in their names): `budget.protocol`." in text
    assert f"| **{pool}** | 2 |" in text


def test_runs_on_different_testbed_problems_are_separate_sections(tmp_path: Path) -> None:
    # The trial's N82: `make run`'s runs (pool 200, test 1000) and FAST runs (pool 40, test 50) in one folder
    # were one "testbed" task, with "savings 2.00x" and paired AUC differences across the two test sets.
    for seed in (0, 1):
        for size, test in [(200, 1000), (40, 50)]:
            for agent in ("mlp/uniform", "epinet/variance"):
                head, priority = agent.split("/")
                config = resolved_config(seed, head=head, priority=priority, task__pool_size=size, task__test_size=test)
                values = UNIFORM if head == "mlp" else offset(VARIANCE, size / 1600)
                write_run(tmp_path, f"{size}/{agent}/{seed}", agent, seed, LABELS, values, config=config)
    sweep = load_sweep(tmp_path)
    assert sweep.problems == {"testbed": ["task.pool_size", "task.test_size"]}
    small, large = "testbed [task.pool_size=40, task.test_size=50]", "testbed [task.pool_size=200, task.test_size=1000]"
    assert sorted(sweep.runs["task"].unique()) == [large, small]
    assert set(sweep.runs["agent"]) == {"mlp/uniform", "epinet/variance"}  # no task keys in the agents' names
    summary = summarize(sweep.runs)
    for task in summary.tasks:
        assert task.baseline == "mlp/uniform" and task.table["seeds"].tolist() == [2, 2]
        runs = sweep.runs[sweep.runs["task"] == task.task]["run"]
        assert runs.str.startswith("200/" if task.task == large else "40/").all()
    text = render_markdown(summary, problems=sweep.problems)  # write_report renders the figures too: seconds
    assert (
        "Task `testbed` ran on 2 different data sets (they differ in `task.pool_size`, `task.test_size`): each is "
        "its own section, and nothing is compared across them." in text
    )
    assert f"## {small}" in text and f"## {large}" in text
    html = "".join(header(summary, {}, {}, sweep.problems))  # render_html's top, without its figures' seconds
    assert "Task <code>testbed</code> ran on 2 different data sets (they differ in <code>task.pool_size</code>" in html


def test_runs_on_different_data_files_are_different_problems(tmp_path: Path) -> None:
    # The trial's N80: one SST-2 setting under two GLUE_DIRs (the full copy, a 400-row one) became one agent
    # with 2 seeds. Runs record a fingerprint of each file read; the folder they were read from does not count.
    full = {"train": "sha256:" + "a" * 64, "dev": "sha256:" + "d" * 64}
    small = {"train": "sha256:" + "b" * 64, "dev": "sha256:" + "d" * 64}
    glue = {"task": "sst2", "metric": "val/acc", "mode": "max"}
    for seed, data, folder in [(0, full, "/glue"), (1, small, "/copy"), (2, full, "/elsewhere/glue")]:
        config = resolved_config(seed, task={"name": "sst2", "data_dir": folder, "seed": seed, "max_length": 64})
        run = write_run(tmp_path, f"s{seed}", "epinet/variance", seed, LABELS, UNIFORM, config=config, **glue)
        summary = json.loads((run / "summary.json").read_text())
        (run / "summary.json").write_text(json.dumps({**summary, "data": data}))
    # A run from before the fingerprints: known by its folder.
    config = resolved_config(3, task={"name": "sst2", "data_dir": "/glue", "seed": 3, "max_length": 64})
    write_run(tmp_path, "s3", "epinet/variance", 3, LABELS, UNIFORM, config=config, **glue)
    sweep = load_sweep(tmp_path)
    assert sweep.problems == {"sst2": ["data.dev", "data.train", "task.data_dir"]}
    seeds = sweep.runs.groupby("task")["seed"].unique().map(sorted).to_dict()
    assert seeds == {
        "sst2 [data.dev=sha256:dddddddd, data.train=sha256:aaaaaaaa, task.data_dir=unset]": [0, 2],
        "sst2 [data.dev=sha256:dddddddd, data.train=sha256:bbbbbbbb, task.data_dir=unset]": [1],
        "sst2 [data.dev=unset, data.train=unset, task.data_dir=/glue]": [3],
    }


def test_float_round_off_does_not_split_an_agent(tmp_path: Path) -> None:
    # The trial's N81: the default prior scale was stored as 0.3 / 0.1 = 2.9999999999999996, and a run
    # with head.prior_scale=3 became another agent.
    for seed, scale in [(0, 0.3 / 0.1), (1, 3.0)]:
        config = resolved_config(seed, head__prior_scale=scale, budget__fractions=[0.1, 0.7 / 7 * 2])
        write_run(tmp_path, f"s{seed}", "epinet/variance", seed, LABELS, VARIANCE, config=config)
    runs = load_sweep(tmp_path).runs
    assert runs.groupby("agent")["seed"].unique().map(sorted).to_dict() == {"epinet/variance": [0, 1]}


def test_a_run_whose_metric_is_not_finite_is_skipped(tmp_path: Path) -> None:
    # The trial's N78: nan and inf in a run's curve.csv were averaged in silently.
    write_run(tmp_path, "good", "epinet/variance", 0, LABELS, VARIANCE)
    write_run(tmp_path, "bad", "epinet/variance", 1, LABELS, [1.0, math.inf, 0.5, 0.5, 0.5])
    # A nan hidden behind a later row at the same label count.
    write_run(tmp_path, "nan", "epinet/variance", 2, [0, 25, 50, 50], [1.0, 0.75, math.nan, 0.5])
    sweep = load_sweep(tmp_path)
    assert sweep.runs["run"].unique().tolist() == ["good"]
    assert sweep.skipped == {
        "bad": f"unreadable: {tmp_path / 'bad' / 'curve.csv'}: test/nll is inf at 25 labels (not a finite number)",
        "nan": f"unreadable: {tmp_path / 'nan' / 'curve.csv'}: test/nll is nan at 50 labels (not a finite number)",
    }


def test_a_setting_only_some_runs_have_is_its_own_value(tmp_path: Path) -> None:
    old = resolved_config(1, budget__replay=None)
    write_run(tmp_path, "old", "epinet/variance", 1, LABELS, VARIANCE, config=old)
    write_run(
        tmp_path, "new", "epinet/variance", 1, LABELS, VARIANCE, config=resolved_config(1, budget__replay="priority")
    )
    write_run(
        tmp_path, "new2", "epinet/variance", 2, LABELS, VARIANCE, config=resolved_config(2, budget__replay="priority")
    )
    agents = load_sweep(tmp_path).runs.groupby("agent")["seed"].unique().map(sorted).to_dict()
    assert agents == {"epinet/variance [budget.replay=unset]": [1], "epinet/variance [budget.replay=priority]": [1, 2]}


def test_a_true_duplicate_is_an_error_naming_both_folders(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_run(tmp_path, name, "epinet/variance", 0, LABELS, VARIANCE, config=resolved_config(0))
    with pytest.raises(ReportError, match=r"same config and seed 0: .*/a and .*/b"):
        load_sweep(tmp_path)


def test_default_baseline_is_the_uniform_variant_with_the_most_common_settings(tmp_path: Path) -> None:
    for lr, agents in [(0.01, ["mlp/uniform"]), (0.001, ["mlp/uniform", "epinet/variance", "epinet/uniform"])]:
        for agent in agents:
            head, priority = agent.split("/")
            config = resolved_config(0, head=head, priority=priority, trainer__optimizer={"lr": lr})
            write_run(tmp_path, f"{agent}/{lr}", agent, 0, LABELS, UNIFORM, config=config)
    runs = load_sweep(tmp_path).runs
    assert summarize(runs).tasks[0].baseline == "mlp/uniform [trainer.optimizer.lr=0.001]"
    other = "mlp/uniform [trainer.optimizer.lr=0.01]"
    assert summarize(runs, baseline=other).tasks[0].baseline == other


@pytest.mark.slow  # renders a whole report (~3 s of plotting on an idle core)
def test_unreadable_run_is_skipped_and_counted(sweep: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = write_run(sweep, "tb/broken", "mlp/uniform", 7, LABELS, UNIFORM)
    (broken / "summary.json").write_text('{"run": {"task": "testbed"')  # truncated
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out)]) == 0
    assert "skipping unreadable run" in caplog.text
    text = (out / "report.md").read_text()
    assert "Skipped: 2 runs (unfinished or unreadable): 1 unfinished, 1 unreadable." in text
    assert "- `tb/broken`: unreadable:" in text and "- `tb/bald/1`: unfinished" in text


@pytest.mark.slow  # renders a whole report (~3 s of plotting on an idle core)
def test_cli_unwritable_out_is_one_line(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep), "--out", "/proc/x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("epinet-al-report: error: cannot write the report to /proc/x: ")
    assert "Traceback" not in "\n".join(err)


@pytest.mark.slow  # a fresh interpreter importing pandas, scipy, matplotlib
def test_report_does_not_import_torch() -> None:
    code = "import sys, epinet_al.report.cli; bad = {'torch', 'wandb', 'hydra'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


@pytest.mark.slow
def test_cli_logs_the_report_to_an_offline_wandb_run(
    sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # W&B stages artifact files and caches under these; keep them out of the home folder.
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out), "--wandb", "epinet-al-test"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    run_dir = Path(printed[1].removeprefix("W&B run: "))
    assert printed[0] == str(out / "report.md") and run_dir.parent == out / "wandb"
    assert run_dir.name.startswith("offline-run-")
    # The page as an HTML panel, unchanged; the artifact (report.html and the tables) in the run's records.
    (panel,) = (run_dir / "files" / "media" / "html").glob("report_*.html")
    assert panel.read_bytes() == (out / "report.html").read_bytes()
    records = next(run_dir.glob("run-*.wandb")).read_bytes()
    assert b"report-sweep" in records and b"savings.csv" in records


@pytest.mark.slow  # renders a whole report (~3 s of plotting on an idle core)
def test_collapsed_runs_are_flagged_in_the_report(sweep: Path, tmp_path: Path) -> None:
    summary_path = sweep / "sst2/entropy/summary.json"
    summary = json.loads(summary_path.read_text())
    summary["diagnostics"] = {"collapsed": True}
    summary_path.write_text(json.dumps(summary))
    loaded = load_sweep(sweep)
    assert loaded.flagged == {"sst2/entropy": "collapsed: near-constant predictions, training loss at or above log C"}
    report = write_report(summarize(loaded.runs), tmp_path / "out", flagged=loaded.flagged).read_text()
    assert "**Flagged: 1 run whose curve measures little**" in report and "`sst2/entropy`" in report


def test_a_run_that_predicts_one_class_is_flagged(tmp_path: Path) -> None:
    # The trial: `make run`'s accuracy was flat at 0.922 for every agent, each model predicting one class on
    # an unbalanced problem, and nothing said so (the collapse flag needs a training loss at log C).
    run = write_run(tmp_path, "a", "mlp/uniform", 0, LABELS, UNIFORM)
    summary = json.loads((run / "summary.json").read_text())
    summary |= {"diagnostics": {"collapsed": False, "one_class": True}, "final": {"test/majority_fraction": 1.0}}
    (run / "summary.json").write_text(json.dumps(summary))
    write_run(tmp_path, "b", "mlp/uniform", 1, LABELS, UNIFORM)
    assert load_sweep(tmp_path).flagged == {
        "a": "predicts one class: 100.0% of test predictions are the same class (its accuracy is that class's share)"
    }


def test_the_y_range_follows_the_means_not_one_wide_band() -> None:
    # The trial: one seed pair far apart at 10 labels drew a band from 0 to 1 and the four curves the panel
    # is about overlapped in a strip of it.
    labels = np.array([10.0, 40.0, 70.0, 100.0])
    wide = Band(labels, np.array([0.6, 0.65, 0.7, 0.75]), np.full(4, 0.5), np.array([0.1, 0.15, 0.2, 0.25]),
                np.array([1.0, 1.0, 1.0, 1.0]), 2)  # fmt: skip
    narrow = Band(labels, np.array([0.62, 0.7, 0.72, 0.8]), np.full(4, 0.01), np.array([0.61, 0.69, 0.71, 0.79]),
                  np.array([0.63, 0.71, 0.73, 0.81]), 2)  # fmt: skip
    bottom, top = y_limits([wide, narrow])
    # The means span 0.6-0.8; bands are shown up to half that span beyond them, plus 5% of the range.
    assert (bottom, top) == pytest.approx((0.5 - 0.02, 0.9 + 0.02))
    assert y_limits([narrow]) == pytest.approx((0.61 - 0.01, 0.81 + 0.01))  # bands inside that reach: all shown
