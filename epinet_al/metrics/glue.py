"""GLUE metrics computed locally with torchmetrics (no `evaluate.load`, which fetches scripts at run time).

`glue_metrics(task, outputs, labels)` returns exactly the metrics named in `task.metrics`, under
their bare names (`acc`, `f1`, `matthews`, `pearson`, `spearman`, `nll`); the caller adds the split
prefix (`val/acc`). Classification metrics come from the marginal predictive of the logits
(`marginal_metrics`, the testbed's path); regression metrics from the mean output over index samples.
"""

from __future__ import annotations

import torch
import torchmetrics.functional as tmf

from epinet_al.data.glue_tasks import GlueTask
from epinet_al.metrics.classification import marginal_metrics

# Each takes (predictions [B] float64, targets [B] float64).
_REGRESSION_METRICS = {"pearson": tmf.pearson_corrcoef, "spearman": tmf.spearman_corrcoef}


def glue_metrics(task: GlueTask, outputs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """The metrics of `task` on one split.

    Args:
        task: the GLUE task; its `metrics` decide which keys are returned.
        outputs: [A, B, C] model outputs for A index samples: logits (or log-probabilities) with
            C = task.num_labels, or for regression (STS-B) scores with C = 1.
        labels: [B] class ids (classification) or target scores (regression).

    Returns:
        {metric name: value}. Pearson/Spearman are nan when predictions or targets are constant.
    """
    outputs, labels = outputs.detach().cpu(), labels.detach().cpu()
    width = 1 if task.is_regression else task.num_labels
    if outputs.ndim != 3 or outputs.shape[2] != width or labels.shape != outputs.shape[1:2]:
        raise ValueError(
            f"{task.name}: expected outputs [A, B, {width}] and labels [B], got {tuple(outputs.shape)} "
            f"and {tuple(labels.shape)}"
        )
    if outputs.shape[0] == 0 or outputs.shape[1] == 0:
        raise ValueError(f"{task.name}: cannot compute metrics on an empty split or without index samples")
    if task.is_regression:
        prediction = outputs.double().mean(0)[:, 0]  # [B]
        return {name: float(_REGRESSION_METRICS[name](prediction, labels.double())) for name in task.metrics}
    if labels.is_floating_point() or labels.min() < 0 or labels.max() >= width:
        raise ValueError(f"{task.name}: labels must be integer class ids in [0, {width}), got {labels}")
    return marginal_metrics(outputs, labels, task.metrics)
