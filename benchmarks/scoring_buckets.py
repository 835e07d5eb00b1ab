"""Benchmark: scoring 1,000 candidates in length-sorted forward batches against batches in random order.

The loops score candidates drawn at random in forward batches of ``budget.score_batch_size``, each
padded to its longest sentence. ``Agent.score`` sorts token inputs by length into those batches when a
call needs more than one (``length_order`` in epinet_al/active_learning/agent.py), so each batch pads
to about its own length. This script scores the same 1,000 SST-2 sentences as acquisition_cost.py (all
872 dev sentences, then train sentences; cut to 64 tokens) with MiniLM fine-tuned in full
(``model=minilm model.finetune=full``) and the epinet head, ``variance`` from A = 100 index samples, in
forward batches of 64 candidates drawn at random, two ways through the same ``Agent.score`` call:

- random order ("today"): the pool is passed behind a wrapper without ``lengths``, so nothing is sorted
  and each batch of 64 random candidates pads to its longest;
- bucketed: the tokenized pool itself, sorted by length into the batches.

Reported: token positions computed (the sum over forward batches of batch size x its longest) over the
real tokens, scoring time in interleaved paired rounds (random, bucketed, then bucketed, random, ...;
the ratio is the median over rounds), and the largest difference between the two calls' scores (the
same index samples serve both). One torch thread, CPU; untimed warm-up first.

    GLUE_DIR=../shared/data/glue python benchmarks/scoring_buckets.py [--rounds 5] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from hydra import compose, initialize_config_dir
from lightning_fabric import Fabric
from provenance import provenance, write_results  # the script folder is on sys.path
from sst2_candidates import (  # the script folder too
    MAX_LENGTH,
    candidate_parser,
    candidate_sentences,
    parse,
    scoring_task,
)

from epinet_al.acquisition.priorities import get_priority
from epinet_al.active_learning.agent import length_order
from epinet_al.config import to_experiment_config
from epinet_al.data.inputs import Inputs
from epinet_al.data.text_inputs import TokenizedInputs, tokenize
from epinet_al.experiment import build_agent, build_module
from epinet_al.networks.encoder import load_tokenizer
from epinet_al.paths import CONFIG_DIR
from epinet_al.seeding import SeedStreams

INDEX_SAMPLES = 100
OVERRIDES = [
    "task=sst2",
    "model=minilm",
    "model.finetune=full",
    f"task.max_length={MAX_LENGTH}",
    "head=epinet",
    "acquisition=variance",
    f"acquisition.num_index_samples={INDEX_SAMPLES}",
]
WAYS = ("random order", "bucketed")
MAX_POSITIONS_RATIO, MIN_SPEEDUP = 1.15, 1.6  # the bar of "Scale one run past one device", item 2
INDEX_SEED = 1  # every call draws the same A indices, so the two ways' scores can be compared


class UnsortedPool:
    """A tokenized pool without its ``lengths``: ``Agent.score`` then keeps the candidates' order."""

    def __init__(self, inputs: TokenizedInputs):
        self.inputs = inputs

    def take(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.inputs.take(indices)

    def __len__(self) -> int:
        return len(self.inputs)


def token_positions(pool: TokenizedInputs, candidates: torch.Tensor, order: torch.Tensor, batch_size: int) -> int:
    """Positions the encoder computes when ``candidates`` run in ``order``, in batches padded to their longest."""
    lengths = pool.lengths[candidates[order]]
    return sum(len(batch) * int(batch.max()) for batch in lengths.split(batch_size))


def build_parser() -> argparse.ArgumentParser:
    parser = candidate_parser(__doc__.splitlines()[0], "scoring_buckets")
    parser.add_argument("--batch-size", type=int, default=64, help="candidates per forward batch")
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds (each times both ways once)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parse(parser)
    for flag in ("candidates", "batch_size", "rounds"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    torch.set_num_threads(1)

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = to_experiment_config(compose("config", overrides=OVERRIDES))
    examples = candidate_sentences(args.glue_dir, args.candidates)
    inputs = tokenize(load_tokenizer(cfg.model), examples, MAX_LENGTH)
    candidates = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(0))  # random, as the loops draw
    pools: dict[str, Inputs] = {"random order": UnsortedPool(inputs), "bucketed": inputs}

    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
    streams = SeedStreams.from_seed(0)
    agent = build_agent(fabric, cfg, build_module(cfg, scoring_task(), streams), streams)
    priority = get_priority(cfg.acquisition.priority)

    def score(way: str, rows: torch.Tensor) -> torch.Tensor:
        agent.module.index_generator.manual_seed(INDEX_SEED)
        return agent.score(pools[way], rows, priority, streams.acquisition, batch_size=args.batch_size)

    positions = {
        way: token_positions(inputs, candidates, length_order(pools[way], candidates, args.batch_size), args.batch_size)
        for way in WAYS
    }
    real_tokens = int(inputs.lengths[candidates].sum())

    start, load_start = time.perf_counter(), os.getloadavg()
    for way in WAYS:  # warm-up (allocator, oneDNN kernels), untimed: two forward batches each
        score(way, candidates[: 2 * args.batch_size])
    print(f"warm-up {time.perf_counter() - start:.0f} s", flush=True)

    seconds: dict[str, list[float]] = {way: [] for way in WAYS}
    scores: dict[str, torch.Tensor] = {}
    for round_ in range(args.rounds):
        for way in WAYS if round_ % 2 == 0 else WAYS[::-1]:
            t0 = time.perf_counter()
            scores[way] = score(way, candidates)
            seconds[way].append(time.perf_counter() - t0)
        print(
            f"round {round_ + 1}: random order {seconds['random order'][-1]:.1f} s, "
            f"bucketed {seconds['bucketed'][-1]:.1f} s",
            flush=True,
        )
    speedups = [a / b for a, b in zip(seconds["random order"], seconds["bucketed"], strict=True)]
    speedup = statistics.median(speedups)
    ratio = positions["bucketed"] / real_tokens

    results = {
        **provenance(load_start),
        "candidates": len(inputs),
        "candidate_source": examples.source,
        "max_length": MAX_LENGTH,
        "batch_size": args.batch_size,
        "index_samples": INDEX_SAMPLES,
        "rounds": args.rounds,
        "real_tokens": real_tokens,
        "ways": {
            way: {
                "token_positions": positions[way],
                "positions_per_real_token": positions[way] / real_tokens,
                "round_seconds": seconds[way],
                "median_s": statistics.median(seconds[way]),
            }
            for way in WAYS
        },
        "round_speedups": speedups,
        "speedup": {"median": speedup, "min": min(speedups), "max": max(speedups)},
        "max_abs_score_difference": float((scores["random order"] - scores["bucketed"]).abs().max()),
        "max_abs_score": float(scores["random order"].abs().max()),
        "bar": {
            "max_positions_per_real_token": MAX_POSITIONS_RATIO,
            "min_speedup": MIN_SPEEDUP,
            "met": ratio <= MAX_POSITIONS_RATIO and speedup >= MIN_SPEEDUP,
        },
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    write_results(results, table(results), args.out)


def table(results: dict) -> dict:
    """The docs' table (``epinet-al-report --render``): a row per way, then the speedup and the bar."""
    rounds = results["rounds"]
    columns = [f"forward batches of {results['batch_size']}", "token positions / real tokens",
               f"time for {results['candidates']:,} candidates (s), median of {rounds}"]  # fmt: skip
    rows = [[way, round(row["positions_per_real_token"], 3), round(row["median_s"], 1)]
            for way, row in results["ways"].items()]  # fmt: skip
    s, bar = results["speedup"], results["bar"]
    notes = [
        f"Speedup (random order / bucketed, paired rounds): {s['median']:.2f}x median "
        f"[{s['min']:.2f}–{s['max']:.2f}] over {rounds} rounds. Largest score difference: "
        f"{results['max_abs_score_difference']:.1e} (scores up to {results['max_abs_score']:.3f}).",
        f"Bar: token positions / real tokens at most {bar['max_positions_per_real_token']} and at least "
        f"{bar['min_speedup']}x faster: {'met' if bar['met'] else 'NOT met'}.",
    ]
    return {"columns": columns, "rows": rows, "notes": notes}


if __name__ == "__main__":
    main()
