"""Bootstrap weights for an epinet's Gaussian index, as google-deepmind/enn weighs the data (data_noise/).

Each training example i gets fixed random vectors b_i (and c_i), drawn from its pool position and a seed, so
the same example always gets the same weights for the same index z:

- ``bernoulli``: w(i, z) = 1 + sign(b_i . z), b_i ~ N(0, I_D / D): each example is fitted by half of the
  index space (weight 2) and left out by the other half (weight 0), the Gaussian-index form of Bernoulli
  bootstrapping;
- ``exponential``: w(i, z) = ((b_i . z)^2 + (c_i . z)^2) / 2, b_i, c_i ~ N(0, I_D / D): an Exp(1) weight.

The loss is the cross-entropy of each (index, example) pair times its weight, averaged.
"""

from __future__ import annotations

import numpy as np
import torch

from epinet_al.networks.specs import BOOTSTRAPS


class GaussianIndexBootstrap:
    """w(i, z) [A, B] for pool positions i [B] and indices z [A, D] (see the module doc)."""

    def __init__(self, distribution: str, index_dim: int, seed: int):
        if distribution not in BOOTSTRAPS[1:]:
            raise ValueError(f"unknown bootstrap {distribution!r}; valid: {', '.join(BOOTSTRAPS[1:])}")
        self.distribution = distribution
        self.index_dim = index_dim
        self.seed = seed
        self._vectors: dict[int, torch.Tensor] = {}  # pool position -> [2, D]: b_i, c_i

    def _vector(self, position: int) -> torch.Tensor:
        if position not in self._vectors:
            seed = int(np.random.SeedSequence([self.seed, position]).generate_state(1)[0])
            generator = torch.Generator().manual_seed(seed)
            self._vectors[position] = torch.randn(2, self.index_dim, generator=generator) / self.index_dim**0.5
        return self._vectors[position]

    def __call__(self, positions: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        vectors = torch.stack([self._vector(p) for p in positions.tolist()]).to(index.device, index.dtype)  # [B, 2, D]
        projections = torch.einsum("bkd,ad->kab", vectors, index)  # [2, A, B]
        if self.distribution == "bernoulli":
            return 1 + torch.sign(projections[0])
        return 0.5 * projections.square().sum(0)
