"""Classification metrics of an ENN's marginal and joint predictive, from logits [A, B, C].

A index samples, B inputs, C classes. Everything is computed from log-softmax in float64 with
log-sum-exp over A, so a confidently wrong prediction gives its exact (large) log-loss, never a
clamped one, and a class of probability 0 never gives NaN (the marginal: ``epinet_al.predictive``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torchmetrics.functional as tmf

from epinet_al.predictive import marginal_log_probs

# The dyadic sampling of the joint log-loss (Osband et al. 2022; the testbed's defaults): each batch
# holds tau inputs drawn with replacement from kappa anchor inputs.
JOINT_NUM_BATCHES = 1000
JOINT_TAU = 10
JOINT_KAPPA = 2


# Each takes (marginal log-probabilities [B, C] float64, labels [B] int64) and returns a 0-d tensor.
def _accuracy(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return tmf.accuracy(log_probs.argmax(dim=1), labels, task="multiclass", num_classes=log_probs.shape[1])


def _f1(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # Binary F1 of the positive class 1 (MRPC "equivalent", QQP "duplicate"), as GLUE reports it.
    return tmf.f1_score(log_probs.argmax(dim=1), labels, task="binary")


def _matthews(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return tmf.matthews_corrcoef(log_probs.argmax(dim=1), labels, task="multiclass", num_classes=log_probs.shape[1])


def _nll(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return -log_probs.gather(1, labels[:, None]).mean()


CLASSIFICATION_METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "acc": _accuracy,
    "f1": _f1,
    "matthews": _matthews,
    "nll": _nll,
}


def marginal_metrics(
    logits: torch.Tensor, labels: torch.Tensor, names: tuple[str, ...] = ("acc", "nll")
) -> dict[str, float]:
    """The metrics ``names`` (keys of CLASSIFICATION_METRICS) of the marginal predictive.

    ``logits`` [A, B, C], ``labels`` [B] class ids. acc, f1 and matthews score the argmax of the
    marginal predictive; nll is its mean log-loss.
    """
    log_probs = marginal_log_probs(logits)
    labels = labels.long()
    return {name: float(CLASSIFICATION_METRICS[name](log_probs, labels)) for name in names}


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


def dyadic_batches(
    num_inputs: int,
    generator: torch.Generator,
    num_batches: int = JOINT_NUM_BATCHES,
    tau: int = JOINT_TAU,
    kappa: int = JOINT_KAPPA,
) -> torch.Tensor:
    """Positions [K, tau] in a set of ``num_inputs`` labelled inputs, for ``joint_nll`` on a fixed set.

    Per batch, kappa anchors are drawn uniformly (with replacement, so any set of at least one input
    works), then tau picks among the anchors. Joint log-loss on a fixed labelled set has one label
    per input, so the tau inputs of a batch repeat the anchors' real labels.
    """
    anchors = torch.randint(num_inputs, (num_batches, kappa), generator=generator)
    picks = torch.randint(kappa, (num_batches, tau), generator=generator)
    return anchors.gather(1, picks)
