"""The comparison report on hand-made sweeps whose statistics can be computed by hand.

Curve values are binary fractions (0.875, 0.0625, ...) so means and areas come out exact.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from epinet_al.report import ReportError, load_sweep, summarize, write_report
from epinet_al.report.cli import main
from epinet_al.report.stats import labels_to_reach, normalized_auc, seed_matrix, t_interval, win_matrix

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
) -> Path:
    """One run folder: curve.csv with `metric` = `values`, and summary.json if `finished`."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    head, priority = agent.split("/")
    curve = pd.DataFrame({"step": range(len(labels)), "num_labels": labels, metric: values, **(extra or {})})
    curve.to_csv(run_dir / "curve.csv", index=False)
    if finished:
        run = {"task": task, "model": "mlp", "head": head, "priority": priority}
        run |= {"protocol": "prioritized", "seed": seed, "agent": agent}
        summary = {"run": run, "metric": {"name": metric, "mode": mode}, "final": {}, "config": {}}
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


def test_load_runs_skips_unfinished_and_keeps_last_row_per_label_count(
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
    assert names == ["report.md", "sst2.png", "summary.csv", "testbed.png", "win_matrix.png"]
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
