"""Classification metrics of an ENN's marginal and joint predictive, from logits [A, B, C]."""

from __future__ import annotations

import math

import torch
from torchmetrics.functional import accuracy as tm_accuracy


def marginal_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """log p(c|x) = log mean_a softmax(logits[a]) : [A, B, C] -> [B, C]."""
    return torch.logsumexp(torch.log_softmax(logits.double(), dim=-1), dim=0) - math.log(logits.shape[0])


def marginal_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy and mean log-loss (nll) of the marginal predictive on labels [B]."""
    log_probs = marginal_log_probs(logits)
    num_classes = logits.shape[-1]
    acc = tm_accuracy(log_probs.argmax(-1), labels, task="multiclass", num_classes=num_classes)
    nll = -log_probs.gather(-1, labels.unsqueeze(-1)).mean()
    return {"acc": float(acc), "nll": float(nll)}


def joint_nll(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Joint log-loss -log mean_a prod_t p_a(y_t | x_t), averaged over batches.

    ``logits`` [A, K, tau, C] with one index a shared across the tau inputs of each batch,
    ``labels`` [K, tau]. The value is a sum over the tau inputs (not divided by tau).
    """
    num_samples = logits.shape[0]
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    per_input = log_probs.gather(-1, labels.unsqueeze(0).unsqueeze(-1).expand(num_samples, -1, -1, 1))
    log_joint = per_input.squeeze(-1).sum(-1)  # [A, K]
    return float(-(torch.logsumexp(log_joint, dim=0) - math.log(num_samples)).mean())
