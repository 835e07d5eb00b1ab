"""The micro-benchmark scripts import against the package and parse their arguments; the bucket benchmark's count."""

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
from epinet_al.report.results import render

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


SPREAD = {"median": 1.0, "min": 0.9, "max": 1.2}
# The least of each script's results that its table reads, as the script writes it.
RESULTS = {
    "acquisition_cost": {
        "candidates": 1000, "passes": 1, "parts": 10,
        "scorers": {"plain forward": {"priority": "none", "seconds_for_all": SPREAD, "ratio": SPREAD},
                    "epinet A=100": {"priority": "variance", "seconds_for_all": SPREAD, "ratio": SPREAD,
                                     "head_and_priority_seconds": {**SPREAD, "median": 0.05}}},
        "bar": {"scorer": "epinet A=100", "max_ratio": 1.1, "ratio": 1.0, "met": True},
    },
    "scoring_buckets": {
        "batch_size": 64, "candidates": 1000, "rounds": 5, "max_abs_score_difference": 1e-8, "max_abs_score": 0.2,
        "ways": {"random order": {"positions_per_real_token": 2.1, "median_s": 60.0},
                 "bucketed": {"positions_per_real_token": 1.08, "median_s": 33.0}},
        "speedup": SPREAD, "bar": {"max_positions_per_real_token": 1.15, "min_speedup": 1.6, "met": False},
    },
    "framework_overhead": {
        "rate": {"full": {"steps_per_round": 5, "framework_steps_per_s": 1.7, "bare_steps_per_s": 1.7,
                          "ratio": SPREAD, "same_steps": True}},
        "checkpoint": {"size_mib": 260, "median_s": 0.5, "save_seconds": [0.5, 0.5, 0.5]},
        "bar": {"min_ratio": 0.9, "ratio": 1.0, "met": True},
        "memory": {"frozen": {"command": "epinet-al task=sst2", "peak_rss_mib": 725.4, "wall_s": 10.2}},
    },
    "data_parallel": {
        "steps_per_second_median": {"1 process, 1 thread": 0.47, "2 processes, 1 thread each": 0.36,
                                    "1 process, 2 threads": 0.13},
        "steps_per_second_rounds": {"1 process, 1 thread": [0.46, 0.48], "2 processes, 1 thread each": [0.35, 0.36],
                                    "1 process, 2 threads": [0.12, 0.14]},
        "speedup_2_processes_vs_1_process_1_thread": 0.75, "speedup_2_processes_vs_1_process_2_threads": 2.72,
    },
}  # fmt: skip


@pytest.mark.parametrize("script", sorted(RESULTS))
def test_bench_script_writes_a_table_the_report_renders(script, tmp_path):
    module = importlib.import_module(script)
    table = (module.tables if script == "framework_overhead" else module.table)(RESULTS[script])
    path = tmp_path / f"{script}.json"
    path.write_text(json.dumps({"command": f"python benchmarks/{script}.py", "date": "2026-12-07", "table": table}))
    text = render([path])
    assert text.startswith("| ") and text.endswith(f"(`python benchmarks/{script}.py`, 2026-12-07).")
    assert text.count("\n|--") == (2 if script == "framework_overhead" else 1)  # the memory runs: a second table


def test_a_results_file_without_its_provenance_is_refused_before_it_is_written(tmp_path):
    # data_parallel.py once wrote a file without its command, and the rendering failed after a 9-minute run.
    from provenance import provenance, write_results

    with pytest.raises(ValueError, match="lack command: start them with provenance"):
        write_results({"date": "2026-12-07"}, {"columns": ["a"], "rows": [[1]]}, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
    write_results({**provenance((0.0, 0.0, 0.0)), "x": 1}, {"columns": ["a"], "rows": [[1]]}, tmp_path / "x.json")
    assert json.loads((tmp_path / "x.json").read_text())["command"].startswith("python ")


SELECTION_RESULTS = [
    "testbed_diagnostics",
    "sst2_uncertainty_search",
    "sst2_index_agreement",
    "testbed_index_agreement",
    "testbed_recipe_D10",
    "testbed_recipe_D2",
]


@pytest.mark.parametrize("name", SELECTION_RESULTS)
def test_the_selection_diagnostics_tables_are_those_of_their_rows(name):
    """The committed tables (rendered in docs/benchmarks.md) are what the script computes from the stored rows."""
    record = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results" / f"{name}.json").read_text())
    tables = importlib.import_module("selection_diagnostics").tables
    assert record["table"] == tables(record["rows"], [table["name"] for table in record["table"]])


def _row(agent, labels, **values):
    return {"agent": agent, "num_labels": labels, "seeds": 3, **values, **{f"{k} ci": 0.01 for k in values}}


def test_the_gate_passes_what_beats_its_references_at_both_sizes():
    gate_table = importlib.import_module("selection_diagnostics").gate_table
    values = {  # agent: (seen/unseen, tune spread, overlap with entropy, noise floor, tune nll) at 400 and at 1,600
        "ref: ensemble/variance": [(0.5, 0.1, 0.6, 1.0, 0.6), (0.6, 0.4, 0.6, 1.0, 0.55)],
        "ref: mlp/entropy": [(None, 0.0, 1.0, 1.0, 0.6), (None, 0.0, 1.0, 1.0, 0.58)],
        "a: epinet/variance": [(0.4, 1.0, 0.7, 0.9, 0.5), (0.6, 0.9, 0.8, 0.9, 0.58)],
        "b: epinet/variance": [(0.4, 1.0, 0.9, 0.9, 0.5), (0.7, 0.91, 0.8, 0.9, 0.59)],
    }
    names = ["pool/seen_unseen", "tune/spread", "pool/overlap_entropy", "pool/overlap_index", "tune/nll"]
    rows = [
        _row(agent, labels, **dict(zip(names, point, strict=True)), **{"pool/priority_seen_unseen": 0.5})
        for agent, points in values.items()
        for labels, point in zip((400, 1600), points, strict=True)
    ]
    table = gate_table(rows)
    gates = {row[0]: row[-4:] for row in table["rows"]}
    assert table["columns"][1] == "seen/unseen at 400 / 1,600" and table["columns"][-4:] == [
        "contrast", "contraction", "selection", "log-loss"
    ]  # fmt: skip
    assert gates["a: epinet/variance"] == ["yes", "yes", "yes", "yes"]
    # b: more contrast than the ensemble at 1,600, 0.91 > 0.9 contraction, an overlap at its floor at 400, worse nll.
    assert gates["b: epinet/variance"] == ["no", "no", "no", "no"]
    assert gates["ref: mlp/entropy"] == ["no", "no", "no", "yes"]  # no spread: no contrast, no contraction
    assert next(row for row in table["rows"] if row[0] == "ref: mlp/entropy")[1] == "— / —"


def test_the_agreement_table_is_the_overlap_per_number_of_index_samples():
    agreement_table = importlib.import_module("selection_diagnostics").agreement_table
    rows = [
        _row(f"{agent} [acquisition.num_index_samples={a}]", 100, **{"pool/overlap_index": overlap})
        for agent, by_a in {"epinet/variance": {30: 0.5, 3000: 0.954}, "dropout/variance": {3000: 0.9}}.items()
        for a, overlap in by_a.items()
    ]
    table = agreement_table(rows)
    assert table["columns"] == ["A", "epinet/variance", "dropout/variance"]
    assert table["rows"] == [[30, "0.50", None], [3000, "0.95", "0.90"]]
    with pytest.raises(AssertionError, match="names no acquisition.num_index_samples"):
        agreement_table([_row("epinet/variance", 100, **{"pool/overlap_index": 0.5})])


def test_the_recipe_tables_are_each_heads_metrics_and_the_paired_differences_per_size():
    module = importlib.import_module("selection_diagnostics")
    runs = pd.DataFrame(
        [
            {"agent": agent, "seed": seed, "num_labels": n, "metric": "test/nll", "test/nll": nll,
             "test/joint_nll": joint, "test/acc": 0.8}
            for agent, offset in (("epinet/uniform", 0.0), ("mlp/uniform", 0.1))
            for seed, noise in ((0, 0.0), (1, 0.02), (2, 0.04))
            for n, nll in ((10, 0.5), (100, 0.3))
            for joint in [nll + offset + noise * (1 if agent == "mlp/uniform" else 0)]
        ]
    )  # fmt: skip
    frame = module.diagnostics_table(runs, ["{split}/nll", "{split}/joint_nll", "{split}/acc"],
                                     paired=("epinet/uniform", "{split}/joint_nll"))  # fmt: skip
    rows = json.loads(frame.to_json(orient="records"))
    heads, paired = module.heads_table(rows), module.paired_table(rows)
    assert heads["columns"] == ["head", "N=10 nll / joint / acc", "N=100 nll / joint / acc"]
    assert "test/joint_nll, the log-loss of a batch of tau inputs" in heads["notes"][0]
    assert heads["rows"][0] == ["epinet", "0.500±0.000 / 0.500±0.000 / 0.800", "0.300±0.000 / 0.300±0.000 / 0.800"]
    assert heads["rows"][1][1].startswith("0.500±0.000 / 0.620±0.050 / ")  # mlp: 0.6, 0.62, 0.64 over the seeds
    # epinet minus mlp on the same seed: -0.10, -0.12, -0.14: mean -0.12 and its 95% t-interval.
    assert paired["columns"] == ["vs", "N=10", "N=100"]
    assert paired["rows"] == [["mlp", "-0.120 ± 0.050", "-0.120 ± 0.050"]]
    assert "epinet/uniform - agent: test/joint_nll" in paired["notes"][0]
    # Paired differences are per label count: each run's last point (final) has none to pair on.
    with pytest.raises(ValueError, match="--paired compares per label count: not with --final"):
        module.diagnostics_table(runs, ["{split}/nll"], final=True, paired=("epinet/uniform", "{split}/nll"))


def test_the_scales_table_chooses_per_head_the_best_mean_tune_loss_without_a_one_class_fit():
    module = importlib.import_module("selection_diagnostics")
    # head, scale: tune nll at 100 and 1,600 labels, majority fraction of seed 0's fit at 100 labels.
    grid = {("mlp", 0.01): (0.6, 0.5, 0.7), ("mlp", 0.03): (0.5, 0.4, 0.995), ("epinet", 0.1): (0.55, 0.45, 0.6)}
    runs = pd.DataFrame(
        [
            {"agent": f"{head}/uniform [head.l2_scale={scale}]", "seed": seed, "num_labels": n, "metric": "val/acc",
             "val/acc": 0.7, "tune/nll": nll, "tune/majority_fraction": majority if (seed, n) == (0, 100) else 0.5}
            for (head, scale), (small, large, majority) in grid.items()
            for seed in (0, 1, 2)
            for n, nll in ((100, small), (1600, large))
        ]
    )  # fmt: skip
    frame = module.diagnostics_table(runs, ["tune/nll", "tune/one_class", "{split}/acc"])
    table = module.scales_table(json.loads(frame.to_json(orient="records")))
    assert table["columns"][2:6] == ["tune nll at 100 / 1,600", "mean", "val acc at 100 / 1,600", "one-class fits"]
    rows = {(row[0], row[1]): row for row in table["rows"]}
    assert rows[("mlp", "0.03")][3:] == ["0.450", "0.700 / 0.700", "1 of 6", ""]  # the better loss, but one class once
    assert rows[("mlp", "0.01")][5:] == ["0 of 6", "yes"]
    assert rows[("epinet", "0.1")][-1] == "yes"
    assert table["notes"][0].startswith("Means over 3 seeds.")
    fewer = [row for row in json.loads(frame.to_json(orient="records")) if row["agent"].startswith("mlp")]
    assert module.scales_table([{**fewer[0], "seeds": 2}, *fewer[1:]])["notes"][0].startswith("Means over 2-3 seeds.")
    with pytest.raises(AssertionError, match="names no head.l2_scale"):
        module.scales_table([_row("mlp/uniform", 100, **{"tune/nll": 0.5, "tune/one_class": 0.0, "val/acc": 0.7})])


def test_runs_of_several_sweeps_are_named_by_their_paths_below_a_common_parent(tmp_path):
    from tests.report.test_report import write_run

    module = importlib.import_module("selection_diagnostics")
    load_runs = module.load_runs
    # Stage-2 folders share the name `reported`, and two settings of one task hold runs at the same paths.
    for setting, last in (("paper-cola", 0.6), ("paper-rte", 0.9)):
        write_run(tmp_path / setting / "reported", "run", "epinet/variance", 0, [10, 20], [0.5, last])
    folders = [tmp_path / "paper-cola" / "reported", tmp_path / "paper-rte" / "reported"]
    assert sorted(set(load_runs(folders)["agent"])) == [
        "paper-cola/reported: epinet/variance",
        "paper-rte/reported: epinet/variance",
    ]
    # Before: the runs shared an id, and --final kept only the last folder's (a table without the first sweep).
    final = module.diagnostics_table(load_runs(folders), ["{split}/nll"], final=True)
    assert final[["agent", "test/nll"]].values.tolist() == [
        ["paper-cola/reported: epinet/variance", 0.6],
        ["paper-rte/reported: epinet/variance", 0.9],
    ]
    assert set(load_runs(folders[:1])["agent"]) == {"epinet/variance"}  # one folder: no prefix
