"""The marginal predictive of an ENN, shared by the metrics (its log-loss, accuracy) and the priorities (its
entropy, margin, BALD): below both, so neither imports the other.

A index samples, B inputs, C classes. Computed from log-softmax in float64 with log-sum-exp over A, so a
confidently wrong prediction gives its exact (large) log-loss, never a clamped one, and a class of probability
0 never gives NaN.
"""

from __future__ import annotations

import math

import torch


def marginal_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """log p(c|x) = log mean_a softmax(logits[a]) : [A, B, C] -> [B, C] float64."""
    return torch.logsumexp(torch.log_softmax(logits.double(), dim=-1), dim=0) - math.log(logits.shape[0])
