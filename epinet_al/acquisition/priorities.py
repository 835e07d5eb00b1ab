"""Priority functions: which examples to label first.

Every priority has one signature: ``(logits, generator=None) -> scores`` with ``logits`` a float
tensor of shape [A, B, C] (A index samples of the ENN, B candidate examples, C classes) and
``scores`` of shape [B]; a higher score means "label this example first".

Marginal priorities (entropy, margin, var_ratios) use only the mean prediction and work with any
model. Epistemic priorities (bald, variance) measure how much the A index samples disagree and need
an ENN head with a real index (epinet, dropout, ensemble): for a plain head they are identically 0.
All are computed from log-softmax so that probabilities of exactly 0 give 0, not NaN.

Target priorities (epig) also take a keyword ``target_logits`` [A, T, C]: the same A index samples
on T target inputs, computed in the same forward pass as the candidates (specs with ``needs_targets``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from epinet_al.acquisition.specs import PRIORITY_SPECS, not_for_regression
from epinet_al.predictive import marginal_log_probs
from epinet_al.registry import load

Priority = Callable[..., torch.Tensor]


def _check_logits(logits: torch.Tensor) -> None:
    if logits.ndim != 3:
        raise ValueError(f"priority logits must have shape [A, B, C], got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise ValueError(f"priority logits must be a float tensor, got dtype {logits.dtype}")


def _entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Entropy over the last axis; 0 * log 0 = 0 by xlogy."""
    return -torch.special.xlogy(log_probs.exp(), log_probs.exp()).sum(-1)


def uniform(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """i.i.d. uniform random scores: the no-prioritization baseline."""
    _check_logits(logits)
    return torch.rand(logits.shape[1], generator=generator, device=logits.device)


def entropy(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """H[pbar] = -sum_c pbar_c log pbar_c of the mean prediction."""
    _check_logits(logits)
    return _entropy(marginal_log_probs(logits)).to(logits.dtype)


def margin(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """-(pbar_(1) - pbar_(2)): minus the gap between the two largest mean probabilities."""
    _check_logits(logits)
    if logits.shape[-1] < 2:
        raise ValueError("margin needs at least 2 classes")
    pbar = marginal_log_probs(logits).exp()
    top2 = pbar.topk(2, dim=-1).values
    return -(top2[:, 0] - top2[:, 1]).to(logits.dtype)


def var_ratios(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """1 - max_c pbar_c (least confidence)."""
    _check_logits(logits)
    pbar = marginal_log_probs(logits).exp()
    return (1.0 - pbar.max(dim=-1).values).to(logits.dtype)


def bald(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """H[pbar] - mean_a H[p_a]: mutual information between the label and the epistemic index."""
    _check_logits(logits)
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    mutual_info = _entropy(marginal_log_probs(logits)) - _entropy(log_probs).mean(0)
    # Jensen guarantees >= 0; clamp the rounding error so ties at 0 stay ties.
    return mutual_info.clamp_min(0.0).to(logits.dtype)


def variance(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """sum_c mean_a (p_a,c - pbar_c)^2: population variance over index samples, summed over classes."""
    _check_logits(logits)
    probs = torch.softmax(logits.double(), dim=-1)
    return probs.var(dim=0, unbiased=False).sum(-1).to(logits.dtype)


def output_variance(outputs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """sum_k mean_a (y_a,k - ybar_k)^2: the variance of a regression model's outputs [A, B, K] over index samples.

    The regression form of ``variance`` (STS-B: K = 1), which ``get_priority(..., regression=True)`` returns.
    """
    _check_logits(outputs)
    return outputs.double().var(dim=0, unbiased=False).sum(-1).to(outputs.dtype)


def get_priority(name: str, regression: bool = False) -> Priority:
    """The priority function registered under ``name`` (``PRIORITY_SPECS``); ValueError listing the valid names
    otherwise.

    ``regression=True`` gives the form for a regression task's outputs, and refuses the priorities
    that need class probabilities.
    """
    spec = PRIORITY_SPECS.get(name)
    if not regression:
        return load(spec.function)
    if spec.regression_function is None:
        raise not_for_regression(name)
    return load(spec.regression_function)
