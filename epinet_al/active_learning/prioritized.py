"""Prioritized fine-tuning, the loop of Osband et al. (2022).

For each step: draw a candidate batch of N pool inputs uniformly without replacement (labels
hidden), score them with the priority function, reveal the labels of the top n that the budget
allows, and take one SGD step on those n. Once the budget is spent, candidates come from the
labeled examples only. The run is evaluated whenever the number of distinct labels used crosses
one of ``eval_labels``, every ``eval_every`` steps if set, and at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from lightning_fabric import Fabric
from tqdm.auto import tqdm

from epinet_al.acquisition import Priority, rank_candidates
from epinet_al.active_learning.checkpoint import Checkpointer
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.steps import Evaluator, draw_targets, evaluate, score_candidates, train_step
from epinet_al.data.inputs import Inputs

# Called with (step, num_labels, metrics) at every evaluation point.
Recorder = Callable[[int, int, dict[str, float]], None]


def draw_candidates(pool_size: int, ledger: LabelLedger, num: int, generator: torch.Generator) -> torch.Tensor:
    """N pool indices uniformly without replacement; only labeled ones once the budget is spent."""
    if ledger.remaining > 0:
        return torch.randperm(pool_size, generator=generator)[:num]
    labeled = ledger.labeled_indices()
    return labeled[torch.randperm(labeled.shape[0], generator=generator)[:num]]


def run_prioritized(
    *,
    fabric: Fabric,
    module: Any,
    optimizer: torch.optim.Optimizer,
    pool: Inputs,
    ledger: LabelLedger,
    priority: Priority,
    evaluator: Evaluator,
    record: Recorder,
    budget: Any,
    acquisition: Any,
    eval_index_samples: int,
    acquisition_generator: torch.Generator,
    eval_generator: torch.Generator,
    gradient_clip_norm: float | None = None,
    progress_bar: bool = True,
    checkpoint: Checkpointer | None = None,
) -> None:
    """Run ``budget.max_steps`` prioritized steps; ``record`` gets the curve row by row.

    With a ``checkpoint``, the run's state is saved after every evaluation point and a saved
    state is restored first, so the loop continues after the last saved step.
    """
    eval_labels = sorted(set(budget.eval_labels))
    saved = checkpoint.restore() if checkpoint else None
    first_step, next_eval = (saved["step"] + 1, saved["next_eval"]) if saved else (1, 0)
    losses: list[float] = []

    def evaluation_point(step: int) -> None:
        metrics = evaluate(fabric, module, evaluator, eval_index_samples, eval_generator)
        if losses:
            metrics["train/loss"] = sum(losses) / len(losses)
            losses.clear()
        record(step, ledger.num_labels, metrics)
        if checkpoint:
            checkpoint.save({"step": step, "next_eval": next_eval})

    steps = range(first_step, budget.max_steps + 1)
    bar = tqdm(
        steps, desc="prioritized", initial=first_step - 1, total=budget.max_steps, disable=not progress_bar, leave=False
    )
    for step in bar:
        candidates = draw_candidates(len(pool), ledger, budget.candidate_batch_size, acquisition_generator)
        targets = draw_targets(pool, ledger, acquisition, acquisition_generator)
        scores = score_candidates(
            fabric,
            module,
            pool.take(candidates),
            priority,
            acquisition.num_index_samples,
            acquisition_generator,
            targets,
        )
        ranked = candidates[
            rank_candidates(scores, acquisition.selection, acquisition.temperature, acquisition_generator)
        ]
        chosen = ledger.within_budget(ranked)[: budget.batch_size]
        labels = ledger.reveal(chosen)
        losses.append(train_step(fabric, module, optimizer, (pool.take(chosen), labels), step, gradient_clip_norm))
        bar.set_postfix(labels=ledger.num_labels, refresh=False)

        crossed = False
        while next_eval < len(eval_labels) and ledger.num_labels >= eval_labels[next_eval]:
            next_eval += 1
            crossed = True
        periodic = budget.eval_every > 0 and step % budget.eval_every == 0
        if crossed or periodic or step == budget.max_steps:
            evaluation_point(step)
