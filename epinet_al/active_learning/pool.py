"""The pool-based protocol of other active-learning libraries (baal, small-text), in rounds.

Label a seeded random initial set; then each round: train on all labeled data (from the initial
weights, or warm-started), evaluate, and, while budget remains, score the unlabeled pool (or a
random subsample of it) and label the acquire_size first candidates of the selection order.
Every evaluation point is a model trained on exactly the labels counted on the curve.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from tqdm.auto import tqdm

from epinet_al.acquisition import rank_candidates
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.loop_setup import LoopSetup
from epinet_al.active_learning.steps import draw_targets, evaluate, score_candidates, train_step


def _unlabeled_candidates(ledger: LabelLedger, subsample: int, generator: torch.Generator) -> torch.Tensor:
    unlabeled = (~ledger.is_labeled).nonzero().squeeze(1)
    if 0 < subsample < unlabeled.shape[0]:
        unlabeled = unlabeled[torch.randperm(unlabeled.shape[0], generator=generator)[:subsample]]
    return unlabeled


def run_pool(run: LoopSetup, budget: Any) -> None:
    """Run rounds until ``budget.max_labels`` labels are used; ``run.record`` gets one row per round.

    With a checkpoint, the state is saved after each round's evaluation, and a saved state is
    restored first: the loop then continues with that round's acquisition.
    """
    # Captured before any restore: a resumed run re-initialises from the same weights.
    initial_weights = copy.deepcopy(run.module.state_dict())
    initial_optimizer = copy.deepcopy(run.optimizer.state_dict())
    bar = tqdm(desc="pool rounds", total=budget.max_labels, disable=not run.progress_bar, leave=False)

    def train_and_evaluate(step: int) -> int:
        """Train on every labeled example, evaluate, save; returns the total step count."""
        if budget.reinitialize:
            run.module.load_state_dict(initial_weights)
            run.optimizer.load_state_dict(initial_optimizer)
        labeled = run.ledger.labeled_indices()
        labels = run.ledger.reveal(labeled)  # already revealed: free
        batch_size = min(budget.batch_size, labeled.shape[0])
        epoch_order = torch.empty(0, dtype=torch.long)
        losses = []
        for _ in range(budget.train_steps):
            if epoch_order.shape[0] < batch_size:  # a new epoch over the labeled set
                epoch_order = torch.randperm(labeled.shape[0], generator=run.acquisition_generator)
            rows, epoch_order = epoch_order[:batch_size], epoch_order[batch_size:]
            step += 1
            batch = (run.pool.take(labeled[rows]), labels[rows])
            losses.append(train_step(run.fabric, run.module, run.optimizer, batch, step, run.gradient_clip_norm))
        metrics = evaluate(run.fabric, run.module, run.evaluator, run.eval_index_samples, run.eval_generator)
        metrics["train/loss"] = sum(losses[-10:]) / len(losses[-10:])
        run.record(step, run.ledger.num_labels, metrics)
        if run.checkpoint:
            run.checkpoint.save({"step": step})
        bar.update(run.ledger.num_labels - bar.n)
        return step

    saved = run.checkpoint.restore() if run.checkpoint else None
    if saved:
        step = saved["step"]
    else:
        run.ledger.reveal(torch.randperm(len(run.pool), generator=run.acquisition_generator)[: budget.initial_labels])
        step = train_and_evaluate(0)
    while run.ledger.remaining > 0:
        candidates = _unlabeled_candidates(run.ledger, budget.pool_subsample, run.acquisition_generator)
        targets = draw_targets(
            run.pool, run.ledger, run.acquisition, run.acquisition_generator
        )  # one target set per round
        scores = torch.cat(
            [
                score_candidates(
                    run.fabric,
                    run.module,
                    run.pool.take(chunk),
                    run.priority,
                    run.acquisition.num_index_samples,
                    run.acquisition_generator,
                    targets,
                )
                for chunk in candidates.split(budget.score_batch_size)
            ]
        )
        ranking = rank_candidates(
            scores, run.acquisition.selection, run.acquisition.temperature, run.acquisition_generator
        )
        run.ledger.reveal(candidates[ranking[: min(budget.acquire_size, run.ledger.remaining)]])
        step = train_and_evaluate(step)
    bar.close()
