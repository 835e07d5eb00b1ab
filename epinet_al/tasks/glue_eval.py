"""A GLUE task's evaluator: its metrics and the uncertainty diagnostics on every labelled evaluation split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from epinet_al.data.glue_tasks import GlueTask
from epinet_al.data.inputs import Inputs, SequenceInputs
from epinet_al.metrics import dyadic_batches, glue_metrics, joint_nll, predict_outputs
from epinet_al.uncertainty import uncertainty_diagnostics


@dataclass
class EvalSplit:
    """One labelled evaluation set: reported ``name`` (val), inputs, labels [N], index batches to run
    (together each of 0..N-1 once, see ``predict_outputs``)."""

    name: str
    inputs: Inputs
    labels: torch.Tensor
    batches: list[torch.Tensor]


class GlueEvaluator:
    """The task's metrics and the uncertainty diagnostics on every evaluation split, from the outputs
    [A, N, C] of A index samples (one forward pass per split).

    Classification splits also get ``joint_nll`` on dyadic batches of their inputs with their real
    labels (``dyadic_batches``), drawn once from ``seed`` so that every evaluation point scores the
    same batches.
    """

    def __init__(self, task: GlueTask, splits: list[EvalSplit], seed: int):
        self.task = task
        self.splits = splits
        generator = torch.Generator().manual_seed(seed)
        self.joint_batches = [None if task.is_regression else dyadic_batches(len(s.labels), generator) for s in splits]

    def __call__(self, predict: Callable[[Any], torch.Tensor]) -> dict[str, float]:
        metrics = {}
        for split, joint_batches in zip(self.splits, self.joint_batches, strict=True):
            outputs = predict_outputs(predict, split.inputs, split.batches)  # [A, N, C]
            values = glue_metrics(self.task, outputs, split.labels)
            if joint_batches is not None:
                values["joint_nll"] = joint_nll(outputs[:, joint_batches], split.labels[joint_batches])
            values.update(uncertainty_diagnostics(outputs, split.labels, regression=self.task.is_regression))
            metrics.update({f"{split.name}/{name}": value for name, value in values.items()})
        return metrics


def eval_batches(inputs: Inputs, encoder_batch_size: int, batch_size: int) -> list[torch.Tensor]:
    """Evaluation batches: token inputs or hidden states grouped by length (little padding) in the encoder's batch
    size, features in order."""
    if isinstance(inputs, SequenceInputs):
        return inputs.length_batches(encoder_batch_size)
    return list(torch.arange(len(inputs)).split(batch_size))
