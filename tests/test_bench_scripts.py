"""The micro-benchmark scripts import against the package and parse their arguments; the bucket benchmark's count."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

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
