"""What the acquisition loop needs from a task, whatever it is (testbed, GLUE)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from epinet_al.active_learning.steps import Evaluator
from epinet_al.data.inputs import Inputs


@dataclass
class ActiveLearningTask:
    """A pool whose labels are hidden behind the ledger, and an evaluator on held-out data."""

    name: str
    pool: Inputs
    pool_labels: torch.Tensor  # [P]; handed to the LabelLedger only
    evaluator: Evaluator
    num_outputs: int  # classes (1 for regression)
    primary_metric: str  # "split/metric" used by reports
    metric_mode: str  # "min" or "max": which way is better
    regression: bool = False  # one real-valued output per example (STS-B): MSE loss, no class probabilities
