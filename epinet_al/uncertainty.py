"""Diagnostics of an ENN's uncertainty: is it epistemic, is it calibrated, has the model collapsed?

All read the outputs [A, N, C] of one evaluation pass (A index samples, N held-out inputs, C classes;
C = 1 for regression), so they cost no extra forward pass. docs/heads_and_priorities.md
("Diagnostics: is the uncertainty epistemic?") says how to read them.

It sits above both ``epinet_al.metrics`` and ``epinet_al.acquisition`` (it reads the priorities), which are
independent of each other (pyproject.toml, [tool.importlinter]).
"""

from __future__ import annotations

import math

import scipy.stats
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from epinet_al.acquisition.priorities import entropy, variance
from epinet_al.predictive import marginal_log_probs

# A spread (logits) at or below this is rounding noise: the index changes nothing. The mean over A of
# identical outputs is not always exact in floating point, so "0" needs a tolerance.
INERT_SPREAD = 1e-6
ECE_BINS = 15
# Collapse: the most predicted class covers this fraction of the held-out inputs ...
COLLAPSE_MAJORITY = 0.99
# ... and the training loss is within this relative distance of log C (the loss of a uniform guess).
COLLAPSE_LOSS_RTOL = 0.02


def input_spread(outputs: torch.Tensor, regression: bool = False) -> torch.Tensor:
    """Epistemic spread per input [N] from outputs [A, N, C], float64.

    Classification: the standard deviation over the A index samples (population, ddof 0) of the
    centred logits (logits minus their mean over classes), averaged over classes. Centring drops the
    shift that softmax ignores. For C = 2 it is half the sd of the logit margin l_1 - l_0.
    Regression: the sd over A of the output (averaged over the C outputs, C = 1 for STS-B).
    0 for a head whose index does nothing, and for A = 1.
    """
    outputs = outputs.double()
    if not regression:
        outputs = outputs - outputs.mean(-1, keepdim=True)
    return outputs.std(0, unbiased=False).mean(-1)


def is_index_inert(spread: float) -> bool:
    """Whether a (mean) spread says the index changes nothing: a plain head, or an index the model ignores."""
    return spread <= INERT_SPREAD


def spread_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` of two mean spreads (seen over unseen inputs, now over before).

    NaN when the denominator is inert (``is_index_inert``: a plain head, an index the model ignores) or
    either is NaN (an empty set of inputs): there is no spread to compare.
    """
    if math.isnan(numerator) or math.isnan(denominator) or is_index_inert(denominator):
        return math.nan
    return numerator / denominator


def top_overlap(scores_a: torch.Tensor, scores_b: torch.Tensor, top: int) -> float:
    """The share of the ``top`` highest of ``scores_a`` [N] that are also among the ``top`` highest of
    ``scores_b`` [N]: 1 when two priorities would label the same ``top`` of N candidates, ``top`` / N by
    chance. Ties keep candidate order (a stable sort, as ``acquisition.rank_candidates``' topk).
    """
    if scores_a.shape != scores_b.shape or scores_a.ndim != 1 or not 0 < top <= scores_a.shape[0]:
        raise ValueError(
            f"top_overlap needs two score vectors [N] of one shape and 0 < top <= N, got "
            f"{tuple(scores_a.shape)}, {tuple(scores_b.shape)} and top={top}"
        )
    first = torch.sort(scores_a, descending=True, stable=True).indices[:top]
    second = torch.sort(scores_b, descending=True, stable=True).indices[:top]
    return len(set(first.tolist()) & set(second.tolist())) / top


def spread_cv(spread: torch.Tensor) -> float:
    """Coefficient of variation across inputs of the per-input spread [N]: sd / mean (population sd).

    Small values mean the uncertainty is nearly the same everywhere (input-independent). NaN when the
    mean spread is inert (``is_index_inert``): there is no spread to compare.
    """
    mean = float(spread.mean())
    if is_index_inert(mean):
        return math.nan
    return float(spread.std(unbiased=False)) / mean


def spearman_var_ent(logits: torch.Tensor) -> float:
    """Spearman rank correlation over N inputs between the ``variance`` and ``entropy`` priorities.

    ``logits`` [A, N, C]. Near 1: ranking by variance is ranking by entropy (the marginal heuristic).
    NaN when the index is inert (variance is then 0 up to rounding) or either score is constant.
    """
    logits = logits.double()
    if is_index_inert(float(input_spread(logits).max())):
        return math.nan
    var_scores, ent_scores = variance(logits), entropy(logits)
    if var_scores.min() == var_scores.max() or ent_scores.min() == ent_scores.max():
        return math.nan
    # scipy rather than torchmetrics: its spearman adds 1e-6 to the denominator, visible at small N.
    return float(scipy.stats.spearmanr(var_scores.numpy(), ent_scores.numpy()).statistic)


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """ECE of the marginal predictive: logits [A, N, C], labels [N] class ids.

    torchmetrics' multiclass calibration error with 15 equal-width confidence bins and the l1 norm:
    sum over bins of (fraction of inputs in the bin) * |accuracy - mean confidence|.
    """
    probs = marginal_log_probs(logits).exp()
    return float(
        multiclass_calibration_error(probs, labels.long(), num_classes=probs.shape[1], n_bins=ECE_BINS, norm="l1")
    )


def majority_fraction(predicted_classes: torch.Tensor) -> float:
    """The fraction of the N inputs [N] predicted as the most frequent class."""
    return float(torch.bincount(predicted_classes.long()).max()) / predicted_classes.shape[0]


def collapsed(train_loss: float | None, num_classes: int, majority_fraction: float) -> bool:
    """Whether the model has collapsed to a constant guess.

    True when the most predicted class covers at least 99% of the held-out inputs (an evaluator's
    ``<split>/majority_fraction``) and the recent training loss is no better than 2% below log C, the loss
    of a uniform guess; with ``train_loss`` None (not known yet), the predictions alone decide. A loss
    above log C counts too: a flattened epinet's loss averages over index samples whose prior still
    moves the logits (0.74 for a flat SST-2 epinet, above log 2 = 0.69).
    """
    if majority_fraction < COLLAPSE_MAJORITY:
        return False
    if train_loss is None:
        return True
    return train_loss >= (1 - COLLAPSE_LOSS_RTOL) * math.log(num_classes)


def uncertainty_diagnostics(outputs: torch.Tensor, labels: torch.Tensor, regression: bool = False) -> dict[str, float]:
    """The diagnostics of one split under bare names, from outputs [A, N, C] and labels [N].

    spread and spread_cv always; for classification also spearman_var_ent, ece and majority_fraction.
    """
    spread = input_spread(outputs, regression)
    diagnostics = {"spread": float(spread.mean()), "spread_cv": spread_cv(spread)}
    if regression:
        return diagnostics
    diagnostics["spearman_var_ent"] = spearman_var_ent(outputs)
    diagnostics["ece"] = expected_calibration_error(outputs, labels)
    diagnostics["majority_fraction"] = majority_fraction(marginal_log_probs(outputs).argmax(-1))
    return diagnostics
