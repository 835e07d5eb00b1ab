"""Train on a fixed labeled set from the current weights: one round of the pool protocol, one subset."""

from __future__ import annotations

import torch

from epinet_al.active_learning.agent import Agent
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.sampling import minibatches
from epinet_al.data.inputs import Inputs

# Training losses averaged into train/loss at an evaluation point: the last few steps of the fit.
LOSS_WINDOW = 10


def fit(
    agent: Agent,
    pool: Inputs,
    ledger: LabelLedger,
    indices: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
    first_step: int,
) -> tuple[int, float]:
    """``steps`` SGD steps on the labeled pool examples ``indices`` in minibatches of ``batch_size``.

    Returns the run's step count after the fit and the mean training loss of its last steps.
    """
    labels = ledger.reveal(indices)  # already revealed: free
    batches = minibatches(indices.shape[0], batch_size, generator)
    losses: list[float] = []
    step = first_step
    for fit_step in range(1, steps + 1):
        rows = next(batches)
        step += 1
        batch = (pool.take(indices[rows]), labels[rows], indices[rows])  # positions: bootstrap weights
        losses.append(agent.train(batch, step=step, num_labels=ledger.num_labels, fit_step=fit_step, fit_steps=steps))
    recent = losses[-LOSS_WINDOW:]
    return step, sum(recent) / len(recent)
