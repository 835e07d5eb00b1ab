"""What the acquisition loop needs from a task, whatever it is (testbed, GLUE)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from epinet_al.data.inputs import Inputs

# An evaluator maps a predict function (model inputs -> logits [A, B, C] on the CPU) to metrics
# named "split/metric".
Evaluator = Callable[[Callable[[Any], torch.Tensor]], dict[str, float]]


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
    # The labels' temperature rho (the testbed's; 1 for real data): enters the reference L2 formulas.
    temperature: float = 1.0
    # The identity of the files read, split -> fingerprint (``TextExamples.fingerprint``); empty for data
    # generated from the task's config (the testbed). summary.json records it: the report compares runs only
    # on the same data.
    data_files: dict[str, str] = field(default_factory=dict)
