"""Benchmark: the cost of scoring 1,000 candidates with MiniLM, per uncertainty head, against a plain forward pass.

Every scorer runs the framework's own ``Agent.score`` (epinet_al/active_learning/agent.py) on the
same 1,000 SST-2 sentences (all 872 dev sentences, then the first train sentences to make up the count;
tokenized by the framework, cut to 64 tokens): a batch of random candidates in one forward pass, padded
to its longest sentence (the loops sort larger calls into length-sorted passes: scoring_buckets.py). The
reference is one plain forward pass over the same batches: the encoder and the plain MLP head under
``torch.inference_mode``, no priority. All models are
built by ``build_module`` from the real composed configs (``model=minilm model.finetune=full``) on the
CPU, in one process, with ``--threads`` torch threads.

Interleaved, paired rounds: the candidates are split at random into ``--parts`` disjoint batches (10 of
100 by default: the default prioritized budget's ``candidate_batch_size``, each one forward pass). Each
round scores one batch with every scorer, in a random order drawn anew each round, and a scorer's ratio
is taken against the plain pass of the same round (run twice, at random places, and averaged), so a
change of the machine's load between rounds cancels out. One pass over the parts scores every candidate
once: the time for 1,000 candidates is the sum over a pass (the median over passes with ``--passes`` >
1). The ratio column is the median over all rounds, with its range. Untimed warm-up on 8 candidates per
scorer first. Last, the head and priority alone are timed on the encoder features of the plain passes:
the part of each cost that is not the encoder, too small for the end-to-end rounds to resolve on a busy
machine.

    GLUE_DIR=../shared/data/glue python benchmarks/acquisition_cost.py [--parts 10] [--passes 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

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
from epinet_al.active_learning.agent import Agent
from epinet_al.config import to_experiment_config
from epinet_al.data.text_inputs import TokenizedInputs, tokenize
from epinet_al.experiment import build_agent, build_module
from epinet_al.networks.encoder import load_tokenizer
from epinet_al.paths import CONFIG_DIR
from epinet_al.seeding import SeedStreams

BASE_OVERRIDES = [
    "task=sst2",
    "model=minilm",
    "model.finetune=full",
    f"task.max_length={MAX_LENGTH}",
    "budget=glue_pool",
]
PLAIN = "plain forward"
BAR_SCORER, BAR = "epinet A=100", 1.1
HEAD_ROUNDS = 10  # repeats of the head-only timing (milliseconds each: cheap)


@dataclass(frozen=True)
class Scorer:
    """One row of the table: a head scored with a priority from A index samples (K for encoder dropout)."""

    name: str
    head: str
    priority: str
    num_index_samples: int


SCORERS = [
    Scorer("mlp", "mlp", "entropy", 1),  # a plain head has no index: one sample, a marginal priority
    *(Scorer(f"epinet A={a}", "epinet", "variance", a) for a in (1, 10, 100, 1000)),
    Scorer("ensemble (10 heads) A=10", "ensemble", "variance", 10),
    *(Scorer(f"dropout head A={a}", "dropout", "variance", a) for a in (10, 100)),
    Scorer("encoder MC dropout K=10", "encoder_dropout", "variance", 10),
]


def compose_config(scorer: Scorer):
    overrides = [
        *BASE_OVERRIDES,
        f"head={scorer.head}",
        f"acquisition={scorer.priority}",
        f"acquisition.num_index_samples={scorer.num_index_samples}",
    ]
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return to_experiment_config(compose("config", overrides=overrides))


def plain_forward(fabric: Fabric, module, inputs: TokenizedInputs, batch: torch.Tensor) -> torch.Tensor:
    """The reference: encoder + plain head on one candidate batch, no index samples, no priority.

    Returns the encoder's features [B, H] (ENN.forward's two halves, written out to keep them).
    """
    module.eval()
    index = module.sample_index(1)
    with torch.inference_mode():
        features = module.enn.body(fabric.to_device(inputs.take(batch)))
        module.enn.head(features, index)
    return features


def head_and_priority(agent: Agent, features: list[torch.Tensor], priority, generator) -> None:
    """Agent.score without the encoder: the head's A index samples and the priority on given features."""
    module = agent.module
    module.eval()
    # As Agent.score: a head without an index gives one output for every index, so it runs one sample.
    num_samples = agent.num_index_samples if module.head.has_index else 1
    with torch.inference_mode():
        for batch in features:
            index = module.sample_index(num_samples)
            priority(module.enn.head(batch, index).double(), generator=generator)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def build_parser() -> argparse.ArgumentParser:
    parser = candidate_parser(__doc__.splitlines()[0], "acquisition_cost")
    parser.add_argument("--parts", type=int, default=10, help="disjoint candidate batches, one per round")
    parser.add_argument("--passes", type=int, default=1, help="times every candidate is scored by every scorer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (trainer.num_threads)")
    return parser


def main() -> None:
    args = parse(build_parser())
    torch.set_num_threads(args.threads)

    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
    configs = {s.name: compose_config(s) for s in SCORERS}
    examples = candidate_sentences(args.glue_dir, args.candidates)
    inputs = tokenize(load_tokenizer(configs["mlp"].model), examples, MAX_LENGTH)
    order = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(0))  # random, as the loops draw
    batches = list(order.tensor_split(args.parts))

    streams = SeedStreams.from_seed(0)
    agents = {
        s.name: build_agent(fabric, configs[s.name], build_module(configs[s.name], scoring_task(), streams), streams)
        for s in SCORERS
    }
    priorities = {s.name: get_priority(s.priority) for s in SCORERS}

    features: dict[int, torch.Tensor] = {}  # batch number -> the encoder's features, for the head-only timing

    def run(name: str, batch: torch.Tensor, part: int = -1) -> None:
        if name == PLAIN:
            features[part] = plain_forward(fabric, agents["mlp"].module, inputs, batch)
        else:  # the batch in one forward pass, unsorted (length-sorted passes: scoring_buckets.py)
            agents[name].score(inputs, batch, priorities[name], streams.acquisition, batch_size=len(batch))

    names = [PLAIN, *(s.name for s in SCORERS)]
    start, load_start = time.perf_counter(), os.getloadavg()
    for name in names:  # warm-up (allocator, oneDNN kernels), untimed
        run(name, order[:8])
    print(f"warm-up {time.perf_counter() - start:.0f} s; {args.passes} x {args.parts} rounds of {len(names)} scorers")

    seconds: dict[str, list[float]] = {name: [] for name in names}  # [passes * parts], round by round
    shuffle = torch.Generator().manual_seed(1)
    # The plain pass is every ratio's denominator in its round: it runs twice, at random places, and its mean counts.
    slots = [*names, PLAIN]
    for round_ in range(args.passes * args.parts):
        part = round_ % args.parts
        times: dict[str, list[float]] = {name: [] for name in names}
        for i in torch.randperm(len(slots), generator=shuffle).tolist():  # a new order each round
            t0 = time.perf_counter()
            run(slots[i], batches[part], part)
            times[slots[i]].append(time.perf_counter() - t0)
        for name in names:
            seconds[name].append(statistics.mean(times[name]))
        print(
            f"round {round_ + 1}: plain {seconds[PLAIN][-1]:.2f} s, total {time.perf_counter() - start:.0f} s",
            flush=True,
        )

    # The head and the priority alone, on the features of the plain passes: the part of each scorer's cost
    # that is not the encoder, too small for the end-to-end rounds to resolve on a busy machine.
    head_names = [s.name for s in SCORERS if s.head != "encoder_dropout"]
    head_seconds: dict[str, list[float]] = {name: [] for name in head_names}
    cached = [features[i] for i in range(args.parts)]
    for _ in range(HEAD_ROUNDS):
        for i in torch.randperm(len(head_names), generator=shuffle).tolist():
            name = head_names[i]
            t0 = time.perf_counter()
            head_and_priority(agents[name], cached, priorities[name], streams.acquisition)
            head_seconds[name].append(time.perf_counter() - t0)

    results = {
        **provenance(load_start),
        "candidates": len(inputs),
        "candidate_source": examples.source,
        "max_length": MAX_LENGTH,
        "batch_sizes": [len(b) for b in batches],
        "tokens": {
            "real": int(inputs.lengths.sum()),
            "padded": sum(len(b) * int(inputs.lengths[b].max()) for b in batches),
        },
        "parts": args.parts,
        "passes": args.passes,
        "wall_time_s": round(time.perf_counter() - start, 1),
        "scorers": {},
    }
    for name in names:
        scorer = next((s for s in SCORERS if s.name == name), Scorer(PLAIN, "mlp", "none", 1))
        ratios = [t / p for t, p in zip(seconds[name], seconds[PLAIN], strict=True)]
        pass_totals = [sum(seconds[name][i : i + args.parts]) for i in range(0, len(ratios), args.parts)]
        results["scorers"][name] = {
            "head": scorer.head,
            "priority": scorer.priority,
            "num_index_samples": scorer.num_index_samples,
            "round_seconds": seconds[name],
            "seconds_for_all": spread(pass_totals),
            "round_ratios": ratios,
            "ratio": spread(ratios),
        }
        if name in head_seconds:
            plain_total = results["scorers"][PLAIN]["seconds_for_all"]["median"]
            results["scorers"][name]["head_and_priority_seconds"] = spread(head_seconds[name])
            results["scorers"][name]["head_and_priority_fraction"] = statistics.median(head_seconds[name]) / plain_total
    bar_ratio = results["scorers"][BAR_SCORER]["ratio"]["median"]
    results["bar"] = {"scorer": BAR_SCORER, "max_ratio": BAR, "ratio": bar_ratio, "met": bar_ratio <= BAR}

    write_results(results, table(results), args.out)


def table(results: dict) -> dict:
    """The docs' table (``epinet-al-report --render``): a row per scorer, then the bar."""
    passes, plain = results["passes"], results["scorers"][PLAIN]["seconds_for_all"]["median"]
    time_header = f"time for {results['candidates']:,} candidates (s)" + (", median [min–max]" if passes > 1 else "")
    columns = ["scorer", "priority", time_header,
               f"ratio to a plain forward pass, median [min–max] over {passes * results['parts']} rounds",
               f"head + priority alone (s), median of {HEAD_ROUNDS}", "head + priority / plain pass"]  # fmt: skip
    rows = []
    for name, row in results["scorers"].items():
        t, r = row["seconds_for_all"], row["ratio"]
        seconds = f"{t['median']:.1f} [{t['min']:.1f}–{t['max']:.1f}]" if passes > 1 else round(t["median"], 1)
        head = row.get("head_and_priority_seconds")
        ratio = f"{r['median']:.3f} [{r['min']:.3f}–{r['max']:.3f}]"
        head_cells = [round(head["median"], 3), f"{head['median'] / plain:.2%}"] if head else [None, None]
        rows.append([name, row["priority"], seconds, ratio, *head_cells])
    bar = results["bar"]
    verdict = "met" if bar["met"] else "NOT met"
    notes = [f"Bar: {bar['scorer']} at most {bar['max_ratio']}x a plain forward pass: {bar['ratio']:.3f}x, {verdict}."]
    return {"columns": columns, "rows": rows, "notes": notes}


if __name__ == "__main__":
    main()
