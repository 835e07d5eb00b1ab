"""Turn priority scores into an order in which candidates get labeled.

``topk`` labels the highest scores first (ties keep candidate order: a stable sort, so a
selection never depends on the sort kernel). The stochastic modes of Kirsch et al. (2023),
"Stochastic Batch Acquisition", sample the order without replacement instead, so that a batch
is not filled with near-duplicates that all score alike:

- ``softmax``: p_i proportional to exp(s_i / temperature)
- ``power``:   p_i proportional to s_i^(1 / temperature) (scores must be >= 0)
- ``softrank``: p_i proportional to rank_i^(-1 / temperature) (rank 1 = highest score)

They are sampled with the Gumbel-top-k trick: sorting log p_i + Gumbel noise gives a sample
without replacement of the whole order. As temperature -> 0 all three become ``topk``.
"""

from __future__ import annotations

import torch

from epinet_al.acquisition.specs import SELECTIONS


def _log_weights(scores: torch.Tensor, mode: str, temperature: float) -> torch.Tensor:
    scores = scores.double()
    if mode == "softmax":
        return scores / temperature
    if mode == "power":
        if (scores < 0).any():
            raise ValueError("power selection needs non-negative scores; use softmax or softrank for this priority")
        return torch.log(scores) / temperature
    ranks = torch.empty_like(scores)
    ranks[torch.sort(scores, descending=True, stable=True).indices] = torch.arange(
        1, scores.shape[0] + 1, dtype=scores.dtype
    )
    return -torch.log(ranks) / temperature


def rank_candidates(
    scores: torch.Tensor,
    mode: str = "topk",
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A permutation of the candidates [B]: the order in which to label them."""
    if scores.ndim != 1:
        raise ValueError(f"scores must have shape [B], got shape {tuple(scores.shape)}")
    if mode not in SELECTIONS:
        raise ValueError(f"unknown selection {mode!r}; valid selections: {', '.join(SELECTIONS)}")
    if mode == "topk":
        return torch.sort(scores, descending=True, stable=True).indices
    if temperature <= 0:
        raise ValueError(f"selection temperature must be positive, got {temperature}")
    uniform = torch.rand(scores.shape, generator=generator, dtype=torch.float64).clamp_min(1e-300)
    gumbel = -torch.log(-torch.log(uniform))
    return torch.sort(
        _log_weights(scores, mode, temperature) + gumbel.to(scores.device), descending=True, stable=True
    ).indices
