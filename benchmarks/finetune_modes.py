"""Benchmark: training and scoring throughput of full, top-2, top-1 and frozen fine-tuning of MiniLM, and padding.

Four agents are built by the package's own code (``build_task``, ``build_module`` and ``build_agent`` of
epinet_al/experiment.py) from the real composed configs: SST-2 with ``model=minilm`` and
``model.finetune=full``, ``top`` with ``model.trainable_layers=2`` and ``1`` (the lower layers' hidden
states cached: the first run encodes them), and ``frozen`` (cached features, the head alone); the epinet
head, ``variance`` from A = ``--index-samples`` index samples. All four share one pool (``--pool`` random
train sentences, ``task.max_pool_size``) and the same batches:

- training: ``Agent.train`` on random batches of ``--batch-size`` pool examples (the head's n_z index
  samples and L2 term, AdamW, the encoder's schedule), two ways for the encoder modes: the default length
  buckets (``trainer.max_padding``) and one padded batch (``max_padding=None``). Token positions computed
  per real token are counted from the batches as the agent splits them;
- scoring: ``Agent.score`` on ``--candidates`` random pool examples, in the default forward batches
  (``model.batch_size`` candidates sorted by length where the encoder runs) and, for the encoder modes,
  in one padded batch of all of them (the old default of ``budget.score_batch_size``, 1,024).

Throughput is examples per CPU-second of one thread (``time.process_time`` with one torch thread), so the
load of a shared machine changes it little; run it under ``nice``. The modes take turns in each of
``--rounds`` rounds after an untimed warm-up; each figure is the median over rounds, and every mode's
ratio is taken against full fine-tuning.

    GLUE_DIR=../shared/data/glue nice -n 10 python benchmarks/finetune_modes.py [--rounds 3] [--steps 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from lightning_fabric import Fabric
from provenance import provenance, write_results  # the script folder is on sys.path

from epinet_al.acquisition.priorities import get_priority
from epinet_al.active_learning.agent import Agent
from epinet_al.config import to_experiment_config
from epinet_al.experiment import build_agent, build_module
from epinet_al.paths import CONFIG_DIR
from epinet_al.seeding import SeedStreams
from epinet_al.tasks.build import build_task

MODES = {
    "full": ["model.finetune=full"],
    "top-2": ["model.finetune=top", "model.trainable_layers=2"],
    "top-1": ["model.finetune=top", "model.trainable_layers=1"],
    "frozen": ["model.finetune=frozen"],
}
ENCODER_MODES = ("full", "top-2", "top-1")  # token inputs: padding matters
MAX_POSITIONS_PER_TOKEN = 1.2  # issue 23, item 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=2000, help="random SST-2 train sentences (task.max_pool_size)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per training step")
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per way, mode and round")
    parser.add_argument("--candidates", type=int, default=640, help="candidates per scoring call")
    parser.add_argument("--index-samples", type=int, default=30, help="A, the index samples that score")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--glue-dir", type=Path, default=os.environ.get("GLUE_DIR"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/finetune_modes.json"))
    return parser


def compose_config(overrides: list[str]):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return to_experiment_config(compose("config", overrides=overrides))


def positions_per_token(agent: Agent, batch: tuple[dict, torch.Tensor]) -> tuple[int, int]:
    """(token positions the encoder computes, real tokens) for ``batch`` as the agent splits it."""
    parts = agent.micro_batches(batch)
    parts = parts if isinstance(parts, list) else [parts]
    masks = [inputs["attention_mask"] for inputs, _ in parts]
    return sum(mask.numel() for mask in masks), sum(int(mask.sum()) for mask in masks)


def cpu_seconds(work) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


class Mode:
    """One agent and its task, built as a run builds them."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        overrides = [
            "task=sst2", "model=minilm", *MODES[name], f"task.max_pool_size={args.pool}", "task.max_eval_size=64",
            "head=epinet", "acquisition=variance", f"acquisition.num_index_samples={args.index_samples}",
            "trainer.accelerator=cpu", "trainer.num_threads=1", f"task.data_dir={args.glue_dir}", "progress_bar=false",
        ]  # fmt: skip
        self.cfg = compose_config(overrides)
        fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
        self.streams = SeedStreams.from_seed(0)
        start = time.process_time()
        self.task = build_task(self.cfg.task, self.cfg.eval, self.cfg.model)  # encodes what is not cached yet
        self.build_cpu_s = time.process_time() - start
        self.agent = build_agent(fabric, self.cfg, build_module(self.cfg, self.task, self.streams), self.streams)
        self.priority = get_priority("variance")
        self.max_padding = self.agent.max_padding

    def train(self, rows: list[torch.Tensor], padded: bool) -> float:
        """CPU seconds of one training step per batch of ``rows``; one padded batch each if ``padded``."""
        self.agent.max_padding = None if padded else self.max_padding
        labels = self.task.pool_labels
        return cpu_seconds(
            lambda: [self.agent.train((self.task.pool.take(r), labels[r]), step=1, num_labels=500) for r in rows]
        )

    def score(self, candidates: torch.Tensor, one_batch: bool) -> float:
        """CPU seconds of scoring ``candidates`` (in the agent's forward batches, or all in one)."""
        size = len(candidates) if one_batch else None
        return cpu_seconds(
            lambda: self.agent.score(
                self.task.pool, candidates, self.priority, self.streams.acquisition, batch_size=size
            )
        )


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.glue_dir is None:
        parser.error("set GLUE_DIR (the folder holding SST-2/) or pass --glue-dir")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*`srun` command is available.*")
    start, load_start = time.perf_counter(), os.getloadavg()

    modes = {}
    for name in MODES:
        modes[name] = Mode(name, args)
        print(f"{name}: task built in {modes[name].build_cpu_s:.0f} CPU-s", flush=True)
    draws = torch.Generator().manual_seed(0)
    pool_size = len(modes["full"].task.pool)
    batches = [torch.randperm(pool_size, generator=draws)[: args.batch_size] for _ in range(args.rounds * args.steps)]
    candidates = [torch.randperm(pool_size, generator=draws)[: args.candidates] for _ in range(args.rounds)]

    ways = {name: ["train, length buckets", "score"] for name in MODES}
    for name in ENCODER_MODES:
        ways[name] += ["train, one padded batch", "score, one padded batch"]
    for mode in modes.values():  # warm-up (allocator, oneDNN kernels), untimed
        mode.train(batches[:1], padded=False)
        mode.score(candidates[0][: 2 * mode.cfg.model.batch_size], one_batch=False)
    seconds: dict[str, dict[str, list[float]]] = {name: {way: [] for way in ways[name]} for name in MODES}
    for round_ in range(args.rounds):
        steps = batches[round_ * args.steps : (round_ + 1) * args.steps]
        for name in MODES if round_ % 2 == 0 else list(MODES)[::-1]:
            mode, timing = modes[name], seconds[name]
            timing["train, length buckets"].append(mode.train(steps, padded=False))
            timing["score"].append(mode.score(candidates[round_], one_batch=False))
            if name in ENCODER_MODES:
                timing["train, one padded batch"].append(mode.train(steps, padded=True))
                timing["score, one padded batch"].append(mode.score(candidates[round_], one_batch=True))
            print(
                f"round {round_ + 1}, {name}: " + ", ".join(f"{w} {t[-1]:.2f} s" for w, t in timing.items()), flush=True
            )

    examples = {"train": args.steps * args.batch_size, "score": args.candidates}
    rows: dict[str, dict[str, Any]] = {}
    for name, mode in modes.items():
        rows[name] = {
            way: {
                "cpu_seconds": values,
                "examples_per_cpu_s": statistics.median(examples[way.split(",")[0]] / s for s in values),
            }
            for way, values in seconds[name].items()
        }
        if name in ENCODER_MODES:
            for way, padded in (("train, length buckets", False), ("train, one padded batch", True)):
                mode.agent.max_padding = None if padded else mode.max_padding
                counts = [
                    positions_per_token(mode.agent, (mode.task.pool.take(r), mode.task.pool_labels[r])) for r in batches
                ]
                rows[name][way]["positions_per_real_token"] = sum(c[0] for c in counts) / sum(c[1] for c in counts)
        rows[name]["task_build_cpu_s"] = mode.build_cpu_s
    for name in MODES:
        for way in ("train, length buckets", "score"):
            rows[name][way]["ratio_to_full"] = (
                rows[name][way]["examples_per_cpu_s"] / rows["full"][way]["examples_per_cpu_s"]
            )
    bucketed = [rows[n]["train, length buckets"]["positions_per_real_token"] for n in ENCODER_MODES]
    cfg = modes["full"].cfg
    results = {
        **provenance(load_start),
        "settings": {
            "pool": pool_size,
            "batch_size": args.batch_size,
            "steps_per_round": args.steps,
            "candidates": args.candidates,
            "index_samples": args.index_samples,
            "train_index_samples": cfg.head.train_index_samples,
            "rounds": args.rounds,
            "max_length": min(cfg.task.max_length, cfg.model.max_length),
            "max_padding": cfg.trainer.max_padding,
            "score_batch_size": cfg.model.batch_size,
        },
        "modes": rows,
        "bar": {
            "max_positions_per_real_token": MAX_POSITIONS_PER_TOKEN,
            "met": max(bucketed) <= MAX_POSITIONS_PER_TOKEN,
        },
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    write_results(results, table(results), args.out)


def table(results: dict) -> dict:
    """The docs' table (``epinet-al-report --render``): examples per CPU-second (and x full), token positions
    per real token; then the bar."""
    s = results["settings"]
    columns = ["mode", "training, ex/CPU-s (x full)", "positions / real token", "training, one padded batch",
               "positions / real token", f"scoring {s['candidates']}, ex/CPU-s (x full)",
               "scoring, one padded pass"]  # fmt: skip
    rows = []
    for name, row in results["modes"].items():
        train, score = row["train, length buckets"], row["score"]
        padded, one = row.get("train, one padded batch"), row.get("score, one padded batch")
        rows.append([
            name,
            f"{train['examples_per_cpu_s']:,.0f} ({train['ratio_to_full']:.2f}x)",
            round(train["positions_per_real_token"], 2) if padded else None,
            round(padded["examples_per_cpu_s"]) if padded else None,
            round(padded["positions_per_real_token"], 2) if padded else None,
            f"{score['examples_per_cpu_s']:,.0f} ({score['ratio_to_full']:.2f}x)",
            round(one["examples_per_cpu_s"]) if one else None,
        ])  # fmt: skip
    bar = results["bar"]
    notes = [f"Bar: training batches at most {bar['max_positions_per_real_token']} token positions per real token: "
             f"{'met' if bar['met'] else 'NOT met'}."]  # fmt: skip
    return {"columns": columns, "rows": rows, "notes": notes}


if __name__ == "__main__":
    main()
