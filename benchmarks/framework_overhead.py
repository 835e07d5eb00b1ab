"""Benchmark: the framework's prioritized training rate against a bare PyTorch loop, and the peak memory of GLUE runs.

Rate. ``run_prioritized`` (epinet_al/active_learning/prioritized.py, driving the Agent around the
Fabric-wrapped model, with the label ledger, the priority registry and the selection rule) and a bare
loop written below (plain PyTorch: no Fabric, no Agent, no ledger, no checkpoints) run the same steps on
the same model: SST-2 with MiniLM fine-tuned in
full (``model=minilm model.finetune=full``, inputs cut to 64 tokens), the epinet head, N = 32 candidates
per step scored by ``variance`` from A = 10 index samples, the top n = 8 trained on with the head's
n_z = 30 index samples and the head's L2 term, AdamW with the framework's parameter groups and learning-
rate schedule (BERT's warmup and linear decay in full mode). Both start each round from the same
weights and the same random states, so they draw the same candidates and take the same steps: the
script checks that their mean losses agree. Rounds alternate (framework, bare, bare, framework, ...)
after an untimed warm-up, and the rate ratio is the median over paired rounds. Evaluation and
checkpoint saving are left out of both: the framework run gets an evaluator that computes nothing and
no checkpointer. ``--frozen-steps`` adds the same comparison in frozen mode (cached features, the head
alone), where a step is so cheap that the framework's per-step Python work is what is measured.

Memory. Two real command-line runs, each in its own subprocess, report their peak resident set size
(``ru_maxrss`` of that child, from ``os.wait4``): ``epinet-al task=sst2 model=minilm budget=glue``
(frozen, 1,000 labels, 300 steps; the features are read from the cache when present) and a short
full fine-tuning run. ``tracemalloc`` is not used: it sees Python objects only, not torch's tensor storage.

    GLUE_DIR=../shared/data/glue python benchmarks/framework_overhead.py [--steps 5] [--rounds 24]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from lightning_fabric import Fabric
from provenance import write_results  # the script folder is on sys.path

from epinet_al.acquisition.priorities import get_priority
from epinet_al.active_learning.agent import lr_factor
from epinet_al.active_learning.checkpoint import Checkpointer
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.loop import Loop
from epinet_al.active_learning.prioritized import run_prioritized
from epinet_al.config import to_experiment_config
from epinet_al.experiment import build_agent, build_module
from epinet_al.paths import CONFIG_DIR
from epinet_al.seeding import SeedStreams
from epinet_al.tasks.build import build_task

CANDIDATES, LABELED, INDEX_SAMPLES, MAX_LENGTH = 32, 8, 10, 64
LOOP = [
    "task=sst2",
    "model=minilm",
    "head=epinet",
    "acquisition=variance",
    f"acquisition.num_index_samples={INDEX_SAMPLES}",
    "budget=prioritized",
    f"budget.candidate_batch_size={CANDIDATES}",
    f"budget.batch_size={LABELED}",
    "trainer.accelerator=cpu",
    "trainer.num_threads=1",
    # One padded training batch per step, as the bare loop trains (length buckets: finetune_modes.py).
    "trainer.max_padding=null",
    "progress_bar=false",
]
MODES = {
    "full": ["model.finetune=full", f"task.max_length={MAX_LENGTH}"],
    # The default max length: its features are the ones `epinet-al task=sst2 model=minilm` caches.
    "frozen": ["model.finetune=frozen"],
}
BAR = 0.9
MEMORY_RUNS = {
    "frozen, budget=glue (1,000 labels, 300 steps)": [
        "task=sst2",
        "model=minilm",
        "budget=glue",
        "trainer.num_threads=1",
        "progress_bar=false",
    ],
    "full fine-tuning, 20 steps (N=32, n=8, A=10, 200 dev sentences)": [
        *LOOP,
        *MODES["full"],
        "budget.max_labels=160",
        "budget.max_steps=20",
        "budget.eval_labels=[160]",
        "task.max_eval_size=200",
    ],
}


def compose_config(overrides: list[str]):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return to_experiment_config(compose("config", overrides=overrides))


class Bench:
    """One model and pool, and the two ways to train it for ``steps`` prioritized steps from the same state."""

    def __init__(self, mode: str):
        self.cfg = compose_config([*LOOP, *MODES[mode]])
        self.fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
        self.task = build_task(self.cfg.task, self.cfg.eval, self.cfg.model, self.fabric.device)
        streams = SeedStreams.from_seed(0)
        self.module = build_module(self.cfg, self.task, streams)
        # Built once, outside the timed rounds (it copies the initial weights); the bare loop trains
        # ``self.module``, whose parameters the agent's wrapped module shares.
        self.agent = build_agent(self.fabric, self.cfg, self.module, streams)

    def _reset(self, seed: int) -> SeedStreams:
        """Initial weights (and a fresh optimizer state for the agent), and the random states every run of
        round ``seed`` starts from."""
        self.agent.reset()
        torch.manual_seed(seed)  # the encoder's dropout in training
        streams = SeedStreams.from_seed(seed)
        self.module.index_generator = streams.index
        return streams

    def framework(self, steps: int, seed: int) -> tuple[float, float]:
        """Seconds and mean loss of ``steps`` steps of run_prioritized."""
        streams = self._reset(seed)
        ledger = LabelLedger(self.task.pool_labels, (steps + 1) * LABELED)  # never spent: every step labels
        budget = dataclasses.replace(
            self.cfg.budget, max_labels=ledger.budget, max_steps=steps, eval_labels=[], eval_every=0
        )
        losses = []
        start = time.perf_counter()
        loop = Loop(
            agent=self.agent,
            pool=self.task.pool,
            ledger=ledger,
            priority=get_priority(self.cfg.acquisition.priority),
            needs_targets=False,
            acquisition=self.cfg.acquisition,
            evaluator=lambda predict: {},  # evaluation is left out of both loops
            record=lambda step, num_labels, metrics: losses.append(metrics["train/loss"]),
            generator=streams.acquisition,
            seed=seed,
            checkpoint=None,
            progress_bar=False,
        )
        run_prioritized(loop, budget)
        return time.perf_counter() - start, losses[-1]

    def bare(self, steps: int, seed: int) -> tuple[float, float]:
        """Seconds and mean loss of ``steps`` steps of the same loop in plain PyTorch."""
        streams = self._reset(seed)
        enn, pool, labels = self.module.enn, self.task.pool, self.task.pool_labels
        lr, weight_decay = self.cfg.trainer.optimizer["lr"], self.cfg.trainer.optimizer["weight_decay"]
        groups: list[dict[str, Any]] = [{"params": [p for p in enn.head.parameters() if p.requires_grad]}]
        full = self.cfg.model.finetune == "full"
        if full:  # the encoder: its own lr, no decay on biases and LayerNorm
            body, model = list(enn.body.parameters()), self.cfg.model
            groups += [
                {"params": [p for p in body if p.ndim >= 2], "lr": model.lr, "weight_decay": model.weight_decay},
                {"params": [p for p in body if p.ndim < 2], "lr": model.lr, "weight_decay": 0.0},
            ]
        optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, foreach=True)
        base_lrs = [group["lr"] for group in optimizer.param_groups]
        schedule = (self.cfg.model.lr_schedule, self.cfg.model.warmup_ratio) if full else ("constant", 0.0)
        num_z = self.cfg.head.train_index_samples
        labeled: set[int] = set()  # a candidate may have been labeled before: the L2 weight counts distinct labels
        losses = []
        start = time.perf_counter()
        for step in range(1, steps + 1):
            candidates = torch.randperm(len(pool), generator=streams.acquisition)[:CANDIDATES]
            enn.eval()
            # The agent's fixed scoring indices (acquisition.fixed_index, the default), else fresh ones as it draws.
            index = self.agent.score_index
            if index is None:
                index = enn.head.sample_index(INDEX_SAMPLES, generator=streams.index)
            with torch.inference_mode():
                logits = enn(pool.take(candidates), index)
            scores = torch.softmax(logits.double(), dim=-1).var(dim=0, unbiased=False).sum(-1)  # variance
            chosen = candidates[torch.sort(scores, descending=True, stable=True).indices[:LABELED]]
            labeled.update(chosen.tolist())
            factor = lr_factor(step, steps, *schedule)
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * factor
            enn.train()
            logits = enn(pool.take(chosen), enn.head.sample_index(num_z, generator=streams.index))  # [n_z, n, C]
            loss = F.cross_entropy(logits.flatten(0, 1), labels[chosen].repeat(num_z))
            l2_weight = self.module.l2_weight(len(labeled))  # the head's L2 term, s(N) * sum(theta^2)
            optimizer.zero_grad(set_to_none=True)
            (loss + l2_weight * enn.head.l2_penalty()).backward()
            optimizer.step()
            losses.append(loss.item())  # the data loss, as the framework's curve records it
        return time.perf_counter() - start, sum(losses) / len(losses)


def compare(bench: Bench, mode: str, steps: int, rounds: int) -> dict:
    """Alternating paired rounds of both loops; steps per second and their ratio."""
    bench.framework(2, seed=rounds)  # warm-up, untimed
    bench.bare(2, seed=rounds)
    rows = []
    for round_ in range(rounds):
        order = ("framework", "bare") if round_ % 2 == 0 else ("bare", "framework")
        times = {}
        for name in order:
            times[name] = getattr(bench, name)(steps, seed=round_)
        (tf, loss_f), (tb, loss_b) = times["framework"], times["bare"]
        rows.append({"framework_s": tf, "bare_s": tb, "ratio": tb / tf, "loss_framework": loss_f, "loss_bare": loss_b})
        print(
            f"{mode} round {round_ + 1}: framework {steps / tf:.3f} steps/s, bare {steps / tb:.3f} steps/s, "
            f"ratio {tb / tf:.3f}, mean loss {loss_f:.5f} / {loss_b:.5f}",
            flush=True,
        )
    ratios = [r["ratio"] for r in rows]
    return {
        "steps_per_round": steps,
        "rounds": rows,
        "framework_steps_per_s": statistics.median(steps / r["framework_s"] for r in rows),
        "bare_steps_per_s": statistics.median(steps / r["bare_s"] for r in rows),
        "ratio": {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)},
        "same_steps": all(abs(r["loss_framework"] - r["loss_bare"]) <= 1e-4 * abs(r["loss_bare"]) for r in rows),
    }


def checkpoint_cost(bench: Bench, out_dir: Path, repeats: int = 3) -> dict:
    """Seconds and size of one ``state.pt`` save of the full fine-tuning run (model, AdamW state, ledger...).

    The loops save it at every evaluation point (not every step), so a run pays it once per curve point.
    """
    agent = bench.agent
    agent.reset()
    rows = torch.arange(LABELED)
    batch = (bench.task.pool.take(rows), bench.task.pool_labels[rows])
    agent.train(batch, step=1, num_labels=LABELED)  # AdamW's state exists from the first step on
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    checkpointer = Checkpointer(out_dir, dataclasses.asdict(bench.cfg))
    ledger = LabelLedger(bench.task.pool_labels, 1000)
    ledger.reveal(rows)
    recorder = SimpleNamespace(rows=[])
    checkpointer.attach(
        module=agent.module,
        optimizer=agent.optimizer,
        ledger=ledger,
        streams=SeedStreams.from_seed(0),
        recorder=recorder,
        wandb_run_id=None,
    )
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        checkpointer.save({"step": 1, "next_eval": 0})
        seconds.append(time.perf_counter() - start)
    size = checkpointer.path.stat().st_size / 2**20
    shutil.rmtree(out_dir)
    print(f"checkpoint: {statistics.median(seconds):.2f} s per save, {size:.0f} MiB", flush=True)
    return {"save_seconds": seconds, "median_s": statistics.median(seconds), "size_mib": size}


# Runs argv[2:] and writes its peak RSS (KiB) and exit code to argv[1].
_STARTER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
open(sys.argv[1], "w").write(f"{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def peak_memory(overrides: list[str], run_dir: Path) -> dict:
    """Peak RSS and wall time of one `epinet-al` run in its own process, started by a small Python process.

    On Linux a child's ru_maxrss starts from its parent's resident size (the high-water mark of the address
    space that exec replaced), so a run started directly by this process, which holds two models, would
    report at least this process's size. The small starter keeps that floor at a few MiB.
    """
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    cmd = [str(Path(sys.executable).parent / "epinet-al"), *overrides, f"hydra.run.dir={run_dir}"]
    result = run_dir / "peak_rss.txt"
    start = time.perf_counter()
    with open(run_dir / "output.log", "w") as log:
        subprocess.run([sys.executable, "-c", _STARTER, str(result), *cmd], stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    max_rss_kib, code = (int(v) for v in result.read_text().split())
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {code}; see {run_dir / 'output.log'}")
    summary = json.loads((run_dir / "summary.json").read_text())
    print(f"memory: {max_rss_kib / 1024:.0f} MiB peak RSS, {seconds:.0f} s: {' '.join(overrides)}", flush=True)
    return {
        "command": "epinet-al " + " ".join(overrides),
        "peak_rss_mib": max_rss_kib / 1024,  # Linux: KiB
        "wall_s": seconds,
        "primary_metric": {summary["metric"]["name"]: summary["final"].get(summary["metric"]["name"])},
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="full fine-tuning steps per round and loop")
    parser.add_argument("--rounds", type=int, default=24, help="paired rounds (each runs both loops)")
    parser.add_argument("--frozen-steps", type=int, default=500, help="frozen-mode steps per round (0: skip)")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True, help="the peak-memory runs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/framework_overhead"),
                        help="the run folders; the results file is this path with .json")  # fmt: skip
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if not os.environ.get("GLUE_DIR"):
        parser.error("set GLUE_DIR (the folder holding SST-2/)")
    torch.set_num_threads(1)  # trainer.num_threads=1, for both loops
    # Lightning warns that `srun` exists whenever SLURM is installed; this single-process run needs no srun.
    warnings.filterwarnings("ignore", message=".*`srun` command is available.*")

    start, load_start = time.perf_counter(), os.getloadavg()
    results: dict[str, Any] = {
        "date": date.today().isoformat(),
        "command": "python " + " ".join(sys.argv),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": 1, "load_average_start": load_start},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "setting": {"candidates": CANDIDATES, "labeled": LABELED, "index_samples": INDEX_SAMPLES},
    }
    full = Bench("full")
    results["rate"] = {"full": compare(full, "full", args.steps, args.rounds)}
    results["checkpoint"] = checkpoint_cost(full, args.out / "checkpoint")
    if args.frozen_steps:
        results["rate"]["frozen"] = compare(Bench("frozen"), "frozen", args.frozen_steps, args.rounds)
    if args.memory:
        runs = enumerate(MEMORY_RUNS.items())
        results["memory"] = {name: peak_memory(overrides, args.out / f"run{i}") for i, (name, overrides) in runs}
    results["machine"]["load_average_end"] = os.getloadavg()
    results["wall_time_s"] = round(time.perf_counter() - start, 1)
    ratio = results["rate"]["full"]["ratio"]["median"]
    results["bar"] = {"min_ratio": BAR, "ratio": ratio, "met": ratio >= BAR}

    write_results(results, tables(results), args.out.with_suffix(".json"))


def tables(results: dict) -> list[dict]:
    """The docs' tables (``epinet-al-report --render``): the loops' rates with the checkpoint's cost and the bar,
    then the peak memory of the runs."""
    rows = []
    for mode, rate in results["rate"].items():
        r = rate["ratio"]
        rows.append([mode, rate["steps_per_round"], round(rate["framework_steps_per_s"], 3),
                     round(rate["bare_steps_per_s"], 3), f"{r['median']:.3f} [{r['min']:.3f}–{r['max']:.3f}]",
                     "yes" if rate["same_steps"] else "no"])  # fmt: skip
    checkpoint, bar = results["checkpoint"], results["bar"]
    notes = [
        f"Saving the full fine-tuning run's state (`state.pt`, {checkpoint['size_mib']:.0f} MiB: MiniLM, its AdamW "
        f"state, ledger, random states) takes {checkpoint['median_s']:.2f} s (median of "
        f"{len(checkpoint['save_seconds'])}); the loops save it once per evaluation point, not per step.",
        f"Bar: full fine-tuning at least {bar['min_ratio']}x the bare loop: {bar['ratio']:.3f}x, "
        f"{'met' if bar['met'] else 'NOT met'}.",
    ]
    rate = {"columns": ["mode", "steps per round", "framework (steps/s)", "bare loop (steps/s)",
                        "framework / bare, median [min–max]", "same steps"], "rows": rows, "notes": notes}  # fmt: skip
    memory = [[f"{name}: `{run['command']}`", round(run["peak_rss_mib"]), round(run["wall_s"])]
              for name, run in results.get("memory", {}).items()]  # fmt: skip
    return [rate, {"columns": ["run", "peak RSS (MiB)", "wall time (s)"], "rows": memory}] if memory else [rate]


if __name__ == "__main__":
    main()
