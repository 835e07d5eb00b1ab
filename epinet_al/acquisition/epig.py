"""EPIG, the expected predictive information gain (Bickford Smith, Kirsch, Farquhar, Gal, Foster, Rainforth 2023).

EPIG(x) = E_{x* ~ p*}[ I(y; y* | x, x*) ]: how much labelling x is expected to tell about the
predictions on target inputs x*, rather than about the index itself (BALD). The joint predictive
of a candidate and a target comes from the SAME index samples a:

    p(y, y* | x, x*) = mean_a p_a(y | x) p_a(y* | x*),
    I(y; y*) = sum_{y, y*} p(y, y*) [log p(y, y*) - log p(y) - log p(y*)],

with p(y) and p(y*) its marginals. The expectation over p* is a mean over T target inputs, drawn
from the unlabeled pool at each scoring call (``acquisition.num_targets``). EPIG is epistemic:
when all A samples agree, p(y, y*) = p(y) p(y*) and the score is 0 (always 0 for a plain head).

Cost. Per scoring call: one extra forward pass of the model on the T targets with the candidates'
index (A head samples; the body runs once), then O(A * B * T * C^2) multiply-adds for the joint
predictives and O(B * T * C^2) memory, bounded by chunking over the candidates. The target pass costs
what the head costs (a dropout head's passes more than the epinet's). Measured by hand, with no results
file: docs/benchmarks-log.md, "EPIG's scoring cost".
"""

from __future__ import annotations

import torch

# Entries of one [chunk, T, C, C] float64 intermediate (32 MiB; a few are alive at once).
_MAX_JOINT_ENTRIES = 2**22


def _check_shapes(logits: torch.Tensor, target_logits: torch.Tensor) -> None:
    for name, value in (("logits", logits), ("target_logits", target_logits)):
        if value.ndim != 3 or not value.is_floating_point():
            raise ValueError(f"epig {name} must be a float tensor [A, B, C], got {value.dtype} {tuple(value.shape)}")
    if logits.shape[0] != target_logits.shape[0] or logits.shape[2] != target_logits.shape[2]:
        raise ValueError(
            "epig needs candidate and target logits from the same A index samples and C classes, got "
            f"{tuple(logits.shape)} and {tuple(target_logits.shape)}"
        )


def _mutual_information(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """I(y; y*) [B, T] from log p_a(y | x) [A, B, C] and log p_a(y* | x*) [A, T, C].

    Log-sum-exp over a done as a matrix product: each factor is shifted by its max over a, so its
    entries lie in [0, 1] with a 1 in each column, and mean_a of the products is a plain einsum with
    O(B T C^2) memory. The shifts cancel in the ratio p(y, y*) / (p(y) p(y*)), so samples that all
    agree give a log-ratio of exactly 0; joint entries that underflow to 0 contribute 0 (0 log 0).
    """
    # A class with probability 0 under every sample has shift -inf: use 0 and let its entries be 0.
    shift_p, shift_q = log_p.amax(0).nan_to_num(neginf=0.0), log_q.amax(0).nan_to_num(neginf=0.0)  # [B, C], [T, C]
    p, q = (log_p - shift_p).exp(), (log_q - shift_q).exp()
    joint = torch.einsum("abc,atd->btcd", p, q) / log_p.shape[0]  # p(y, y*) / exp(shift_p + shift_q)
    log_joint = joint.log()
    log_ratio = log_joint - p.mean(0).log()[:, None, :, None] - q.mean(0).log()[None, :, None, :]
    log_weight = log_joint + shift_p[:, None, :, None] + shift_q[None, :, None, :]  # log p(y, y*)
    terms = torch.where(joint > 0, log_weight.exp() * log_ratio, 0.0)
    return terms.sum((-2, -1))


def epig(
    logits: torch.Tensor, generator: torch.Generator | None = None, *, target_logits: torch.Tensor
) -> torch.Tensor:
    """Scores [B]: mean over the T targets of I(y; y*) from logits [A, B, C] and target_logits [A, T, C].

    Both must come from the same A index samples, in the same order. ``generator`` is unused
    (the standard priority signature); the targets were drawn by the caller.
    """
    _check_shapes(logits, target_logits)
    log_p = torch.log_softmax(logits.double(), dim=-1)
    log_q = torch.log_softmax(target_logits.double(), dim=-1)
    num_targets, num_classes = target_logits.shape[1:]
    chunk = max(1, _MAX_JOINT_ENTRIES // (num_targets * num_classes**2))
    scores = torch.cat([_mutual_information(part, log_q).mean(1) for part in log_p.split(chunk, dim=1)])
    # Mutual information is >= 0; clamp the rounding error so ties at 0 stay ties.
    return scores.clamp_min(0.0).to(logits.dtype)
