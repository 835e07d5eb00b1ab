"""The micro-benchmark scripts import against the package and parse their arguments; the bucket benchmark's count."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

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
