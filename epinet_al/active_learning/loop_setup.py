"""What an acquisition loop drives: one object that both protocols take, so their signatures cannot drift."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from lightning_fabric import Fabric

from epinet_al.acquisition import Priority
from epinet_al.active_learning.checkpoint import Checkpointer
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.steps import Evaluator
from epinet_al.data.inputs import Inputs

# Called with (step, num_labels, metrics) at every evaluation point.
Recorder = Callable[[int, int, dict[str, float]], None]


@dataclass
class LoopSetup:
    """The model, the data, the priority and the bookkeeping of one run, as the loops use them.

    ``checkpoint``: with one, the loop saves its state after every evaluation point and restores a
    saved state first, so a killed run continues after its last saved point.
    """

    fabric: Fabric
    module: Any  # the Fabric-wrapped EnnModule
    optimizer: torch.optim.Optimizer
    pool: Inputs
    ledger: LabelLedger
    priority: Priority
    evaluator: Evaluator
    record: Recorder
    acquisition: Any  # the acquisition config: priority, index samples A, selection, targets
    eval_index_samples: int
    acquisition_generator: torch.Generator
    eval_generator: torch.Generator
    gradient_clip_norm: float | None = None
    progress_bar: bool = True
    checkpoint: Checkpointer | None = None
