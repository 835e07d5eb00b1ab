"""Turn priority scores into a selection of candidates to label."""

from __future__ import annotations

import torch


def select_top(scores: torch.Tensor, num: int) -> torch.Tensor:
    """Indices of the ``num`` highest scores, highest first.

    Ties keep candidate order (stable sort), so a selection never depends on the sort kernel.
    """
    if scores.ndim != 1:
        raise ValueError(f"scores must have shape [B], got shape {tuple(scores.shape)}")
    if not 0 < num <= scores.shape[0]:
        raise ValueError(f"cannot select {num} of {scores.shape[0]} candidates")
    return torch.sort(scores, descending=True, stable=True).indices[:num]
