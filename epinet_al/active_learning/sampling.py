"""Which pool examples a loop looks at: candidates to score, targets for EPIG, minibatches of labeled data.

Every draw comes from the run's acquisition generator, so a resumed run draws the same indices.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.data.inputs import Inputs


def draw_candidates(
    pool_size: int, ledger: LabelLedger, num: int, batch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """The prioritized loop's N candidates: uniformly without replacement from the pool.

    Once the label budget is spent only labeled examples can be trained on. A draw of N from the whole
    pool would hold about N * L / P of the L labeled ones, so that many are drawn from the labeled set
    (at least ``batch_size``, at most N): the top n of them keeps the uncapped loop's selectivity, and when
    that share is small the batch is simply n labeled examples at random, never the same top n of the
    same candidates step after step.
    """
    if ledger.remaining > 0:
        return torch.randperm(pool_size, generator=generator)[:num]
    labeled = ledger.labeled_indices()
    share = min(num, max(batch_size, round(num * labeled.shape[0] / pool_size)))
    return labeled[torch.randperm(labeled.shape[0], generator=generator)[:share]]


def labeled_sample(ledger: LabelLedger, num: int, generator: torch.Generator) -> torch.Tensor:
    """``num`` labeled examples drawn uniformly with replacement: a batch from the replay of every label so far
    (``budget.train_on=labeled``, as the reference's testbed experiment samples its replay)."""
    labeled = ledger.labeled_indices()
    return labeled[torch.randint(labeled.shape[0], (num,), generator=generator)]


def unlabeled_candidates(ledger: LabelLedger, subsample: int, generator: torch.Generator) -> torch.Tensor:
    """The pool protocol's candidates: every unlabeled example, or a random ``subsample`` of them (0: all)."""
    unlabeled = (~ledger.is_labeled).nonzero().squeeze(1)
    if 0 < subsample < unlabeled.shape[0]:
        unlabeled = unlabeled[torch.randperm(unlabeled.shape[0], generator=generator)[:subsample]]
    return unlabeled


def draw_targets(pool: Inputs, ledger: LabelLedger, num: int, generator: torch.Generator) -> Any:
    """``num`` random unlabeled pool inputs (the whole pool once every label is revealed): samples of the
    input distribution whose predictions the labels should improve, for a target priority (epig)."""
    source = (~ledger.is_labeled).nonzero().squeeze(1)
    if source.numel() == 0:
        source = torch.arange(len(pool))
    return pool.take(source[torch.randperm(source.shape[0], generator=generator)[:num]])


def minibatches(num: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless rows [batch_size] into a set of ``num`` examples: epoch after epoch of random permutations.

    Batches always hold ``batch_size`` rows: with fewer examples than that, a batch spans several epochs and
    repeats examples (the reference fit: a repeated, shuffled dataset in batches of 100).
    """
    order = torch.empty(0, dtype=torch.long)
    while True:
        while order.shape[0] < batch_size:
            order = torch.cat([order, torch.randperm(num, generator=generator)])
        rows, order = order[:batch_size], order[batch_size:]
        yield rows
