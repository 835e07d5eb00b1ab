"""Prioritized fine-tuning, the loop of Osband et al. (2022).

For each step: draw a candidate batch of N pool inputs uniformly without replacement (labels
hidden), score them with the priority function, reveal the labels of the top n that the budget
allows, and take one SGD step on those n. Once the budget is spent, candidates come from the
labeled examples only (``budget.replay=priority``), or each step trains on n labeled examples
drawn at random (``uniform``: acquisition as above, then plain training on the acquired set).
The run is evaluated whenever the number of distinct labels used crosses one of ``eval_labels``,
every ``eval_every`` steps if set, and at the end.
"""

from __future__ import annotations

from typing import Any

import torch
from tqdm.auto import tqdm

from epinet_al.acquisition import rank_candidates
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.loop_setup import LoopSetup
from epinet_al.active_learning.steps import draw_targets, evaluate, score_candidates, train_step

# What a step trains on once the label budget is spent (budget.replay).
REPLAYS = ("priority", "uniform")


def draw_candidates(pool_size: int, ledger: LabelLedger, num: int, generator: torch.Generator) -> torch.Tensor:
    """N pool indices uniformly without replacement; only labeled ones once the budget is spent."""
    if ledger.remaining > 0:
        return torch.randperm(pool_size, generator=generator)[:num]
    labeled = ledger.labeled_indices()
    return labeled[torch.randperm(labeled.shape[0], generator=generator)[:num]]


def prioritized_batch(run: LoopSetup, budget: Any) -> torch.Tensor:
    """The n pool indices to train on next: the top of N scored candidates, within the label budget."""
    candidates = draw_candidates(len(run.pool), run.ledger, budget.candidate_batch_size, run.acquisition_generator)
    targets = draw_targets(run.pool, run.ledger, run.acquisition, run.acquisition_generator)
    scores = score_candidates(
        run.fabric,
        run.module,
        run.pool.take(candidates),
        run.priority,
        run.acquisition.num_index_samples,
        run.acquisition_generator,
        targets,
    )
    selection = run.acquisition
    ranked = candidates[rank_candidates(scores, selection.selection, selection.temperature, run.acquisition_generator)]
    return run.ledger.within_budget(ranked)[: budget.batch_size]


def run_prioritized(run: LoopSetup, budget: Any) -> None:
    """Run ``budget.max_steps`` prioritized steps; ``run.record`` gets the curve row by row."""
    eval_labels = sorted(set(budget.eval_labels))
    saved = run.checkpoint.restore() if run.checkpoint else None
    first_step, next_eval = (saved["step"] + 1, saved["next_eval"]) if saved else (1, 0)
    losses: list[float] = []

    def evaluation_point(step: int) -> None:
        metrics = evaluate(run.fabric, run.module, run.evaluator, run.eval_index_samples, run.eval_generator)
        if losses:
            metrics["train/loss"] = sum(losses) / len(losses)
            losses.clear()
        run.record(step, run.ledger.num_labels, metrics)
        if run.checkpoint:
            run.checkpoint.save({"step": step, "next_eval": next_eval})

    steps = range(first_step, budget.max_steps + 1)
    bar = tqdm(
        steps,
        desc="prioritized",
        initial=first_step - 1,
        total=budget.max_steps,
        disable=not run.progress_bar,
        leave=False,
    )
    for step in bar:
        if run.ledger.remaining == 0 and budget.replay == "uniform":
            labeled = run.ledger.labeled_indices()
            chosen = labeled[torch.randperm(labeled.shape[0], generator=run.acquisition_generator)[: budget.batch_size]]
        else:
            chosen = prioritized_batch(run, budget)
        labels = run.ledger.reveal(chosen)
        batch = (run.pool.take(chosen), labels)
        losses.append(train_step(run.fabric, run.module, run.optimizer, batch, step, run.gradient_clip_norm))
        bar.set_postfix(labels=run.ledger.num_labels, refresh=False)

        crossed = False
        while next_eval < len(eval_labels) and run.ledger.num_labels >= eval_labels[next_eval]:
            next_eval += 1
            crossed = True
        periodic = budget.eval_every > 0 and step % budget.eval_every == 0
        if crossed or periodic or step == budget.max_steps:
            evaluation_point(step)
