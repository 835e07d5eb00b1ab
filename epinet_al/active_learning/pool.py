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
from lightning_fabric import Fabric
from tqdm.auto import tqdm

from epinet_al.acquisition import Priority, rank_candidates
from epinet_al.active_learning.checkpoint import Checkpointer
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.prioritized import Recorder
from epinet_al.active_learning.steps import Evaluator, draw_targets, evaluate, score_candidates, train_step
from epinet_al.data.inputs import Inputs


def _unlabeled_candidates(ledger: LabelLedger, subsample: int, generator: torch.Generator) -> torch.Tensor:
    unlabeled = (~ledger.is_labeled).nonzero().squeeze(1)
    if 0 < subsample < unlabeled.shape[0]:
        unlabeled = unlabeled[torch.randperm(unlabeled.shape[0], generator=generator)[:subsample]]
    return unlabeled


def run_pool(
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
    """Run rounds until ``budget.max_labels`` labels are used; ``record`` gets one row per round.

    With a ``checkpoint``, the state is saved after each round's evaluation, and a saved state is
    restored first: the loop then continues with that round's acquisition.
    """
    # Captured before any restore: a resumed run re-initialises from the same weights.
    initial_weights = copy.deepcopy(module.state_dict())
    initial_optimizer = copy.deepcopy(optimizer.state_dict())
    bar = tqdm(desc="pool rounds", total=budget.max_labels, disable=not progress_bar, leave=False)

    def train_and_evaluate(step: int) -> int:
        """Train on every labeled example, evaluate, save; returns the total step count."""
        if budget.reinitialize:
            module.load_state_dict(initial_weights)
            optimizer.load_state_dict(initial_optimizer)
        labeled = ledger.labeled_indices()
        labels = ledger.reveal(labeled)  # already revealed: free
        batch_size = min(budget.batch_size, labeled.shape[0])
        epoch_order = torch.empty(0, dtype=torch.long)
        losses = []
        for _ in range(budget.train_steps):
            if epoch_order.shape[0] < batch_size:  # a new epoch over the labeled set
                epoch_order = torch.randperm(labeled.shape[0], generator=acquisition_generator)
            rows, epoch_order = epoch_order[:batch_size], epoch_order[batch_size:]
            step += 1
            batch = (pool.take(labeled[rows]), labels[rows])
            losses.append(train_step(fabric, module, optimizer, batch, step, gradient_clip_norm))
        metrics = evaluate(fabric, module, evaluator, eval_index_samples, eval_generator)
        metrics["train/loss"] = sum(losses[-10:]) / len(losses[-10:])
        record(step, ledger.num_labels, metrics)
        if checkpoint:
            checkpoint.save({"step": step})
        bar.update(ledger.num_labels - bar.n)
        return step

    saved = checkpoint.restore() if checkpoint else None
    if saved:
        step = saved["step"]
    else:
        ledger.reveal(torch.randperm(len(pool), generator=acquisition_generator)[: budget.initial_labels])
        step = train_and_evaluate(0)
    while ledger.remaining > 0:
        candidates = _unlabeled_candidates(ledger, budget.pool_subsample, acquisition_generator)
        targets = draw_targets(pool, ledger, acquisition, acquisition_generator)  # one target set per round
        scores = torch.cat(
            [
                score_candidates(
                    fabric,
                    module,
                    pool.take(chunk),
                    priority,
                    acquisition.num_index_samples,
                    acquisition_generator,
                    targets,
                )
                for chunk in candidates.split(budget.score_batch_size)
            ]
        )
        ranking = rank_candidates(scores, acquisition.selection, acquisition.temperature, acquisition_generator)
        ledger.reveal(candidates[ranking[: min(budget.acquire_size, ledger.remaining)]])
        step = train_and_evaluate(step)
    bar.close()
