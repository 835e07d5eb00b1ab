"""GLUE metrics computed locally with torchmetrics (no `evaluate.load`, which fetches scripts at run time).

`glue_metrics(task, probs_or_preds, labels)` returns exactly the metrics named in `task.metrics`, under
their bare names (`acc`, `f1`, `matthews`, `pearson`, `spearman`, `nll`); the caller adds the split
prefix (`val/acc`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchmetrics.functional as tmf

from epinet_al.data.glue_tasks import GlueTask

# Probabilities are clamped here before the log, so one confidently wrong example gives a large but
# finite nll (-log 1e-12 ~ 27.6) instead of inf.
NLL_MIN_PROB = 1e-12
# Tolerance on the row sums of the probabilities: catches logits passed by mistake, allows float16 noise.
_PROB_SUM_ATOL = 1e-2


def glue_metrics(task: GlueTask, probs_or_preds: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """The metrics of `task` on one split.

    Args:
        task: the GLUE task; its `metrics` decide which keys are returned.
        probs_or_preds: classification: [B, C] marginal predictive probabilities (rows sum to 1,
            C = task.num_labels). Regression (STS-B): [B] predicted scores ([B, 1] is accepted too).
        labels: [B] class ids (classification) or target scores (regression).

    Returns:
        {metric name: value}. Pearson/Spearman are nan when predictions or targets are constant.
    """
    x = probs_or_preds.detach().cpu()
    y = labels.detach().cpu()
    if task.is_regression:
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 1 or y.shape != x.shape:
            raise ValueError(
                f"{task.name}: expected predictions [B] and labels [B], got {tuple(probs_or_preds.shape)} "
                f"and {tuple(labels.shape)}"
            )
        x, y = x.double(), y.double()
    else:
        _check_probs(task, x, y)
        x, y = x.double(), y.long()
    if x.shape[0] == 0:
        raise ValueError(f"{task.name}: cannot compute metrics on an empty split")
    return {name: float(_METRICS[name](x, y)) for name in task.metrics}


def _check_probs(task: GlueTask, probs: torch.Tensor, labels: torch.Tensor) -> None:
    c = task.num_labels
    if probs.ndim != 2 or probs.shape[1] != c or labels.shape != probs.shape[:1]:
        raise ValueError(
            f"{task.name}: expected probabilities [B, {c}] and labels [B], got {tuple(probs.shape)} "
            f"and {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.numel() and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"{task.name}: labels must be integer class ids in [0, {c}), got {labels}")
    if probs.numel():
        sums = probs.double().sum(dim=1)
        if probs.min() < 0 or not torch.allclose(sums, torch.ones_like(sums), atol=_PROB_SUM_ATOL):
            raise ValueError(
                f"{task.name}: expected probabilities (non-negative, rows summing to 1), got row sums in "
                f"[{sums.min().item():.4g}, {sums.max().item():.4g}] and min {probs.min().item():.4g}; "
                "pass softmax outputs, not logits"
            )


# Each takes (probs [B, C] float64, labels [B] int64) or (preds [B] float64, targets [B] float64).
def _accuracy(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return tmf.accuracy(probs.argmax(dim=1), labels, task="multiclass", num_classes=probs.shape[1], average="micro")


def _f1(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # Binary F1 of the positive class 1 (MRPC "equivalent", QQP "duplicate"), as GLUE reports it.
    return tmf.f1_score(probs.argmax(dim=1), labels, task="binary")


def _matthews(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return tmf.matthews_corrcoef(probs.argmax(dim=1), labels, task="multiclass", num_classes=probs.shape[1])


def _nll(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    p_true = probs.gather(1, labels[:, None])[:, 0]
    return -p_true.clamp(min=NLL_MIN_PROB).log().mean()


def _pearson(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return tmf.pearson_corrcoef(preds, targets)


def _spearman(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return tmf.spearman_corrcoef(preds, targets)


_METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "acc": _accuracy,
    "f1": _f1,
    "matthews": _matthews,
    "nll": _nll,
    "pearson": _pearson,
    "spearman": _spearman,
}
