"""The baseline without prioritization, as the paper trains it: fixed random subsets of the pool.

One seeded permutation of the pool; subset k is its first N_k examples (nested, so a larger subset adds
labels to a smaller one), with N_k = round(fraction_k * pool size) or ``budget.sizes``. Each subset is
trained from the initial weights (``train_steps`` steps, or ``epochs`` passes) and evaluated once: the
curve has one point per size, a model trained on exactly those labels, with its own random draws (minibatches,
training indices, dropout) keyed by the run's seed and the size: a size's point is the same whichever other sizes
the run fits (a tuned baseline runs each configuration at the sizes it won only). Tuning per size (learning rate,
batch size, L2) is a sweep over these runs, chosen on the tuning runs (``epinet_al.report.tuning``).
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from epinet_al.active_learning.fit import fit
from epinet_al.active_learning.loop import Loop
from epinet_al.active_learning.specs import SubsetBudgetConfig
from epinet_al.seeding import fit_seed


def fit_steps(budget: SubsetBudgetConfig, size: int) -> int:
    """SGD steps for a subset of ``size``: ``train_steps``, or ``epochs`` passes of ``batch_size``."""
    if budget.train_steps > 0:
        return budget.train_steps
    return max(1, math.ceil(budget.epochs * size / budget.batch_size))


def run_subset(loop: Loop, budget: SubsetBudgetConfig) -> None:
    """Train and evaluate on each nested random subset; ``loop.record`` gets one row per size."""
    sizes = budget.subset_sizes(len(loop.pool))
    order = torch.randperm(len(loop.pool), generator=loop.generator)  # drawn first: a resumed run redraws it
    saved = loop.restore()
    step, done = (saved["step"], saved["done"]) if saved else (0, 0)
    for size in tqdm(sizes[done:], desc="subsets", disable=not loop.progress_bar, leave=False):
        seed = fit_seed(loop.seed, size)
        loop.agent.reset()
        loop.agent.reseed_training(seed)
        step, loss = fit(
            loop.agent,
            loop.pool,
            loop.ledger,
            order[:size],
            steps=fit_steps(budget, size),
            batch_size=budget.batch_size,
            generator=torch.Generator().manual_seed(seed),
            first_step=step,
        )
        done += 1
        loop.evaluation_point(step, {"train/loss": loss}, {"step": step, "done": done})
