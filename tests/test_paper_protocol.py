"""The paper's protocol as the framework's own sweeps: an experiment's stage 1 (tuning), the choice, stage 2, report.

The fixture tests/fixtures/paper_smoke/ holds the runs of the smoke experiment (conf/experiment/paper/smoke.yaml:
the testbed, two fractions, the baseline and two agents, two reported seeds), and what benchmarks/paper.py, the
path this one replaced, gave on those same runs: its choices and its savings read-off (written by
tests/fixtures/make_paper_smoke_expected.py at commit 9c9581b, removed with paper.py). The package's tuning and
report must give the same on the same runs, whatever the loop's numbers are today. (At that commit a paper.py job
and the new path's job of the same configuration wrote byte-identical curve.csv files.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from epinet_al.config import to_experiment_config
from epinet_al.paths import CONFIG_DIR
from epinet_al.report import load_sweep, savings_table, summarize, summary_table
from epinet_al.report.cli import main as report_main
from epinet_al.report.results import write_results
from epinet_al.report.tuning import choose, experiment_seeds, write_stage2
from tests.slurm_cluster import REPO_ROOT

FIXTURE = Path(__file__).with_name("fixtures") / "paper_smoke"


def l2_of(overrides: list[str]) -> float:
    return float(next(o for o in overrides if o.startswith("head.l2_scale=")).split("=")[1])


def test_the_tuning_chooses_what_paper_py_chose():
    expected = json.loads((FIXTURE / "expected_choices.json").read_text())
    tuning = choose(FIXTURE / "tune")
    assert (tuning.metric, tuning.mode, tuning.tuned_keys) == ("test/nll", "min", ["head.l2_scale"])
    chosen = {choice.name: choice for choice in tuning.choices}
    for agent, config in expected["agents"].items():  # paper.py's names: epinet-variance, l2_0.3_lr_0.001
        assert f"l2_{l2_of(chosen[agent.replace('-', '_')].overrides)}_lr_0.001" == config
    per_labels = {str(labels): choice for choice in tuning.choices for labels in choice.labels}
    assert {n: f"l2_{l2_of(c.overrides)}_lr_0.001" for n, c in per_labels.items()} == expected["baseline_per_labels"]
    # A baseline configuration runs only at the fractions it won.
    assert [(c.name, c.part) for c in tuning.choices if c.labels] == [
        ("baseline_part1", ["budget.fractions=[0.25]"]), ("baseline_part2", ["budget.fractions=[1.0]"])]  # fmt: skip


def test_the_report_reads_off_what_paper_py_read_off():
    summary = summarize(load_sweep(FIXTURE / "reported").runs)
    expected = pd.read_csv(FIXTURE / "expected_savings.csv")
    pd.testing.assert_frame_equal(savings_table(summary), expected, check_exact=True, check_dtype=False)
    table, expected = summary_table(summary), pd.read_csv(FIXTURE / "expected_summary.csv")
    pd.testing.assert_frame_equal(table[expected.columns], expected, check_exact=True, check_dtype=False)


@pytest.mark.slow  # 4 compositions
def test_stage_2_composes_the_chosen_configurations(tmp_path):
    stage2 = write_stage2(choose(FIXTURE / "tune"), tmp_path / "reported", "range(0,2)")
    with initialize_config_dir(config_dir=str(stage2), version_base="1.3"):
        master = compose("report", [f"hydra.searchpath=[file://{CONFIG_DIR}]"], return_hydra_config=True)
        params = master.hydra.sweeper.params
        assert dict(params) == {"tuned": "baseline_part1,baseline_part2,epinet_variance,mlp_entropy",
                                "seed": "range(0,2)"}  # fmt: skip
        runs = {name: to_experiment_config(compose("report", [f"hydra.searchpath=[file://{CONFIG_DIR}]",
                                                              f"tuned={name}", "seed=0"]))
                for name in params.tuned.split(",")}  # fmt: skip
    assert [runs["baseline_part1"].budget.fractions, runs["baseline_part2"].budget.fractions] == [[0.25], [1.0]]
    assert (runs["baseline_part1"].head.l2_scale, runs["baseline_part2"].head.l2_scale) == (3.0, 0.3)
    assert runs["epinet_variance"].head.name == "epinet" and runs["epinet_variance"].budget.protocol == "prioritized"
    assert {run.sweep for run in runs.values()} == {"paper-smoke"}  # the experiment's settings come with each


@pytest.mark.slow  # 100 compositions
def test_every_experiment_composes_every_agent():
    for path in sorted((CONFIG_DIR / "experiment").rglob("*.yaml")):
        experiment = path.relative_to(CONFIG_DIR / "experiment").with_suffix("").as_posix()
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            params = compose("config", [f"experiment={experiment}"], return_hydra_config=True).hydra.sweeper.params
            for agent in params.agent.split(","):
                cfg = to_experiment_config(compose("config", [f"experiment={experiment}", f"agent={agent}"]),
                                           devices=False)  # fmt: skip
                assert cfg.sweep == f"paper-{path.stem}", experiment
                assert cfg.budget.fractions, experiment  # both protocols evaluate at the experiment's fractions


@pytest.mark.slow
def test_the_smoke_experiment_runs_end_to_end(tmp_path):
    """Stage 1 writes stage 2; stage 2 and the report read the savings off: `make bench-paper-smoke`'s path, with
    Hydra's default launcher (submitit's runs both stages in tests/test_slurm.py, and stops with the command in
    tests/test_sweeps.py)."""
    tune = tmp_path / "paper-smoke" / "tune"
    epinet_al = [sys.executable, "-m", "epinet_al", "-m"]
    stage1 = subprocess.run([*epinet_al, "experiment=paper/smoke", f"hydra.sweep.dir={tune}"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert stage1.returncode == 0, stage1.stdout[-3000:] + stage1.stderr[-3000:]
    reported = tmp_path / "paper-smoke" / "reported"
    assert f"stage 2 written; run it: epinet-al -m --config-dir {reported} --config-name report" in stage1.stdout
    stage2 = subprocess.run([*epinet_al, "--config-dir", str(reported), "--config-name", "report"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert stage2.returncode == 0, stage2.stdout[-3000:] + stage2.stderr[-3000:]
    assert "epinet-al: 8 finished, 0 failed" in stage2.stderr  # 2 baseline parts and 2 agents x 2 seeds
    assert report_main([str(reported), "--results", str(tmp_path / "paper-smoke.json")]) == 0
    assert json.loads((tmp_path / "paper-smoke.json").read_text())["tuning"]["tuned_keys"] == ["head.l2_scale"]
    savings = pd.read_csv(reported / "report" / "savings.csv")
    assert sorted(savings["agent"].unique()) == sorted(pd.read_csv(FIXTURE / "expected_savings.csv")["agent"].unique())
    assert savings["target_labels"].tolist() == [10, 40] * 3


def test_epinet_al_report_tune_writes_stage_2_beside_stage_1(tmp_path, capsys):
    shutil.copytree(FIXTURE / "tune", tmp_path / "tune")
    assert report_main([str(tmp_path / "tune"), "--tune", "--seeds", "range(0,3)"]) == 0
    reported = tmp_path / "reported"
    assert capsys.readouterr().out.strip() == (
        f"stage 2 written; run it: epinet-al -m --config-dir {reported} --config-name report"
    )
    assert sorted(p.name for p in (reported / "tuned").iterdir()) == [
        "baseline_part1.yaml", "baseline_part2.yaml", "epinet_variance.yaml", "mlp_entropy.yaml"]  # fmt: skip
    assert "seed: range(0,3)" in (reported / "report.yaml").read_text()
    # Without --seeds: the experiment's reported seeds (its TuneThenReport callback's).
    assert experiment_seeds(FIXTURE / "tune") == "range(0,2)"


def test_a_tuning_with_an_unfinished_run_writes_no_stage_2(tmp_path, capsys):
    shutil.copytree(FIXTURE / "tune", tmp_path / "tune")
    next((tmp_path / "tune").rglob("summary.json")).unlink()
    assert report_main([str(tmp_path / "tune"), "--tune"]) == 2
    assert "1 of 6 tuning runs in" in capsys.readouterr().err
    assert not (tmp_path / "reported").exists()


def test_the_results_file_renders_the_docs_table(tmp_path, capsys):
    results = write_results(summarize(load_sweep(FIXTURE / "reported").runs), FIXTURE / "reported",
                            tmp_path / "paper-smoke.json")  # fmt: skip
    record = json.loads(results.read_text())
    assert record["tuning"]["metric"] == "test/nll" and record["tasks"][0]["baseline"].startswith("mlp/uniform")
    assert {"command", "date", "machine"} <= set(record)
    assert report_main(["--render", str(results)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| agent | paper-smoke: AUC − baseline | paper-smoke: final (labels) |"
    baseline = next(row for row in record["tasks"][0]["rows"] if row["baseline"])
    assert table[2].startswith(f"| {baseline['agent']} | {baseline['auc_mean']:.3f} ± {baseline['auc_ci']:.3f} (AUC) |")
    assert table[-1].endswith(f"rendered by `epinet-al-report --render` from `{results.as_posix()}`.")
