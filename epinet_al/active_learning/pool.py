"""The pool-based protocol of other active-learning libraries (baal, small-text), in rounds.

Label a seeded random initial set; then each round: train on all labeled data (from the initial
weights, or warm-started), evaluate, and, while budget remains, score the unlabeled pool (or a
random subsample of it) and label the acquire_size first candidates of the selection order.
Every evaluation point is a model trained on exactly the labels counted on the curve.
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from epinet_al.acquisition.selection import rank_candidates
from epinet_al.active_learning.fit import fit
from epinet_al.active_learning.loop import Loop
from epinet_al.active_learning.sampling import unlabeled_candidates
from epinet_al.active_learning.specs import PoolBudgetConfig


def pool_rounds(budget: PoolBudgetConfig, labels: int) -> int:
    """The rounds (evaluation points) of a pool run by the time it has ``labels`` labels: the initial set's,
    then one per acquisition of up to ``budget.acquire_size``."""
    return 1 + math.ceil(max(0, labels - budget.initial_labels) / budget.acquire_size)


def run_pool(loop: Loop, budget: PoolBudgetConfig) -> None:
    """Run rounds until the label budget is used; ``loop.record`` gets one row per round.

    With a checkpoint, the state is saved after each round's evaluation, and a saved state is
    restored first: the loop then continues with that round's acquisition.
    """
    agent, ledger, acquisition = loop.agent, loop.ledger, loop.acquisition
    # Progress in rounds, the unit of work (each a whole fit of train_steps); the labels as its postfix.
    bar = tqdm(desc="rounds", total=pool_rounds(budget, ledger.budget), disable=not loop.progress_bar, leave=False)

    def train_and_evaluate(step: int) -> int:
        """Train on every labeled example, evaluate, save; returns the total step count."""
        if budget.reinitialize:
            agent.reset()
        step, loss = fit(
            agent,
            loop.pool,
            ledger,
            ledger.labeled_indices(),
            steps=budget.train_steps,
            batch_size=budget.batch_size,
            generator=loop.generator,
            first_step=step,
        )
        loop.evaluation_point(step, {"train/loss": loss}, {"step": step})
        bar.update()
        bar.set_postfix(labels=ledger.num_labels)
        return step

    saved = loop.restore()
    if saved:
        step = saved["step"]
        bar.update(pool_rounds(budget, ledger.num_labels))
    else:
        ledger.reveal(torch.randperm(len(loop.pool), generator=loop.generator)[: budget.initial_labels])
        step = train_and_evaluate(0)
    while ledger.remaining > 0:
        candidates = unlabeled_candidates(ledger, budget.pool_subsample, loop.generator)
        targets = loop.targets()  # one target set per round
        scores = agent.score(
            loop.pool, candidates, loop.priority, loop.generator, targets=targets, batch_size=budget.score_batch_size
        )
        ranking = rank_candidates(scores, acquisition.selection, acquisition.temperature, loop.generator)
        ledger.reveal(candidates[ranking[: min(budget.acquire_size, ledger.remaining)]])
        step = train_and_evaluate(step)
    bar.close()
