"""The ensemble head (a baseline of Osband et al. 2022): M independent MLP heads on the same features.

The index is a member id [A] (long). Members are stored stacked, one [M, in, out] weight per
layer, and evaluated with batched matrix products, so A index samples cost one batched MLP over
the distinct members drawn, never a Python loop.

``sample_index`` draws ids uniformly but stratified: whole rounds of a random permutation of the
members, the last round cut short. Each id is marginally uniform, and:
- A = M draws every member exactly once, the natural choice: the mean over A is then the exact
  ensemble mean, and a training step with ``train_index_samples = M`` (the default) trains every
  member on every batch;
- any multiple of M (e.g. ``acquisition.num_index_samples = 100`` for M = 10) gives the same
  scores as A = M; the repeated members are computed once, only the priority itself sees A rows;
- A < M uses a random subset of distinct members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from epinet_al.networks.head import Head
from epinet_al.networks.mlp import stacked_forward, stacked_mlps


class EnsembleHead(Head):
    """``ensemble_size`` MLPs features -> hidden -> C, each with its own reference initialisation."""

    @classmethod
    def from_config(cls, cfg: Any, feature_dim: int, num_outputs: int) -> EnsembleHead:
        return cls(feature_dim, num_outputs, hidden=cfg.hidden, ensemble_size=cfg.ensemble_size)

    def __init__(self, feature_dim: int, num_outputs: int, *, hidden: Sequence[int], ensemble_size: int):
        super().__init__()
        if ensemble_size <= 0:
            raise ValueError(f"ensemble_size must be positive, got {ensemble_size}")
        self.feature_dim = feature_dim
        self.ensemble_size = ensemble_size
        # The members as ordinary MLPs (the reference init, one draw each), stored stacked: [M, in, out], [M, out].
        self.weights, self.biases = stacked_mlps(ensemble_size, feature_dim, hidden, num_outputs)

    def reference_l2(self, num_labels: int, temperature: float) -> float:
        """sqrt(rho) * D / (M * N): the reference ensemble's scale on the member-averaged loss
        (neural_testbed agents/factories/ensemble.py); the sum runs over all M members' weights."""
        return super().reference_l2(num_labels, temperature) / self.ensemble_size

    def sample_index(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` member ids [A]: rounds of a random permutation of the M members (see the module doc)."""
        rounds = -(-num // self.ensemble_size)
        return torch.cat([torch.randperm(self.ensemble_size, generator=generator) for _ in range(rounds)])[:num]

    def forward(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """features [B, F], member ids [A] -> logits [A, B, C]; unused members get no gradient."""
        if index.ndim != 1 or index.is_floating_point():
            raise ValueError(f"ensemble index must be integer member ids [A], got {index.dtype} {tuple(index.shape)}")
        members, rows = torch.unique(index, return_inverse=True)  # each drawn member runs once
        return stacked_forward(features, self.weights, self.biases, members)[rows]  # [U, B, C] -> [A, B, C]
