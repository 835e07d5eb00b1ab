"""The paper's prioritized fine-tuning loop (Osband et al. 2022).

Each step draws N candidates uniformly without replacement from the pool, scores them with the
priority function, reveals the labels of the top n (as far as the label budget allows) and takes
one SGD step on those n. Once the budget is spent, candidates come from the labeled examples only,
in the share a draw from the whole pool would hold (``sampling.draw_candidates``)
(``budget.replay=priority``), or each step trains on n labeled examples drawn at random (``uniform``:
acquisition as above, then plain training on the acquired set). ``budget.max_labels=0`` never caps
the labels: the anytime curve of the paper.

``budget.train_on=labeled`` trains as the reference's testbed experiment does instead: the top n only join the
labeled set, then ``steps_per_draw`` SGD steps each train on ``train_batch_size`` labeled examples drawn at random
(with replacement); once every label the budget allows is revealed, scoring stops and training goes on.

The run is evaluated whenever the number of distinct labels used crosses one of ``eval_labels`` (or the label
count of one of ``fractions`` of the pool), every
``eval_every`` steps if set, and at the end.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from epinet_al.acquisition.selection import rank_candidates
from epinet_al.active_learning.loop import Loop
from epinet_al.active_learning.sampling import draw_candidates, labeled_sample
from epinet_al.active_learning.specs import PrioritizedBudgetConfig, fraction_sizes


def prioritized_batch(loop: Loop, budget: PrioritizedBudgetConfig) -> torch.Tensor:
    """The n pool indices to train on next: the top of N scored candidates, within the label budget."""
    candidates = draw_candidates(
        len(loop.pool), loop.ledger, budget.candidate_batch_size, budget.batch_size, loop.generator
    )
    scores = loop.agent.score(
        loop.pool, candidates, loop.priority, loop.generator, targets=loop.targets(), batch_size=budget.score_batch_size
    )
    selection = loop.acquisition
    ranked = candidates[rank_candidates(scores, selection.selection, selection.temperature, loop.generator)]
    return loop.ledger.within_budget(ranked)[: budget.batch_size]


def step_batches(loop: Loop, budget: PrioritizedBudgetConfig) -> list[torch.Tensor]:
    """The pool indices of this step's SGD batches, one per update; with ``train_on=labeled``, the step's
    labeling (the top n of the candidates join the labeled set) happens here, before the batches are drawn."""
    ledger = loop.ledger
    if budget.train_on == "labeled":
        if ledger.remaining > 0:
            ledger.reveal(prioritized_batch(loop, budget))
        size = budget.train_batch_size or budget.batch_size
        return [labeled_sample(ledger, size, loop.generator) for _ in range(budget.steps_per_draw)]
    if ledger.remaining == 0 and budget.replay == "uniform":
        labeled = ledger.labeled_indices()
        return [labeled[torch.randperm(labeled.shape[0], generator=loop.generator)[: budget.batch_size]]]
    return [prioritized_batch(loop, budget)]


def run_prioritized(loop: Loop, budget: PrioritizedBudgetConfig) -> None:
    """Run ``budget.max_steps`` prioritized steps; ``loop.record`` gets the curve row by row."""
    ledger = loop.ledger
    eval_labels = sorted({*budget.eval_labels, *fraction_sizes(budget.fractions, len(loop.pool))})
    saved = loop.restore()
    first_step, next_eval = (saved["step"] + 1, saved["next_eval"]) if saved else (1, 0)
    losses: list[float] = []

    steps = range(first_step, budget.max_steps + 1)
    bar = tqdm(
        steps,
        desc="prioritized",
        initial=first_step - 1,
        total=budget.max_steps,
        disable=not loop.progress_bar,
        leave=False,
    )
    updates = budget.steps_per_draw if budget.train_on == "labeled" else 1  # SGD steps per step
    for step in bar:
        for update, chosen in enumerate(step_batches(loop, budget)):
            batch = (loop.pool.take(chosen), ledger.reveal(chosen), chosen)  # positions: bootstrap weights
            fit_step = (step - 1) * updates + update + 1  # the learning-rate schedule runs over every update
            losses.append(
                loop.agent.train(
                    batch,
                    step=step,
                    num_labels=ledger.num_labels,
                    fit_step=fit_step,
                    fit_steps=budget.max_steps * updates,
                )
            )
        bar.set_postfix(labels=ledger.num_labels, refresh=False)

        crossed = False
        while next_eval < len(eval_labels) and ledger.num_labels >= eval_labels[next_eval]:
            next_eval += 1
            crossed = True
        periodic = budget.eval_every > 0 and step % budget.eval_every == 0
        if crossed or periodic or step == budget.max_steps:
            extra = {"train/loss": sum(losses) / len(losses)} if losses else {}
            losses.clear()
            loop.evaluation_point(step, extra, {"step": step, "next_eval": next_eval})
