"""The MC-dropout head (a baseline of Osband et al. 2022): dropout on the base MLP's hidden units.

The index is one dropout mask per forward pass, shared by the whole batch: a float keep-mask
[A, sum(H)] (1 = keep), the hidden layers' masks side by side. Drawing the mask from the index
generator is what "the index is the mask seed" means: the same generator state gives the same
masks, and a given index gives the same logits in training and in evaluation mode, so scoring
and evaluation are MC dropout without touching ``module.eval()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from epinet_al.networks.head import Head
from epinet_al.networks.mlp import MLP


class DropoutHead(Head):
    """features -> hidden -> C with dropout of rate ``dropout_rate`` on each hidden layer's units.

    Kept units are scaled by 1 / (1 - p) (inverted dropout), so the mean mask is the identity.
    The first layer runs once per batch; only the masked layers after it run once per index.
    """

    @classmethod
    def from_config(cls, cfg: Any, feature_dim: int, num_outputs: int) -> DropoutHead:
        return cls(feature_dim, num_outputs, hidden=cfg.hidden, dropout_rate=cfg.dropout_rate)

    def __init__(self, feature_dim: int, num_outputs: int, *, hidden: Sequence[int], dropout_rate: float):
        super().__init__()
        if not hidden:
            raise ValueError("the dropout head needs at least one hidden layer to drop units from, got hidden=[]")
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
        self.feature_dim = feature_dim
        self.dropout_rate = dropout_rate
        self.widths = list(hidden)
        self.base = MLP(feature_dim, hidden, num_outputs)

    def sample_index(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` keep-masks [A, sum(H)]: each unit is kept with probability 1 - p."""
        return (torch.rand(num, sum(self.widths), generator=generator) >= self.dropout_rate).float()

    def forward(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """features [B, F], keep-masks [A, sum(H)] -> logits [A, B, C]."""
        if index.ndim != 2 or index.shape[1] != sum(self.widths):
            raise ValueError(f"dropout index must have shape [A, {sum(self.widths)}], got {tuple(index.shape)}")
        x = features  # [B, F], becomes [A, B, H] at the first mask
        for layer, mask in zip(self.base.hidden_layers, index.split(self.widths, dim=1), strict=True):
            x = torch.relu(layer(x)) * (mask / (1.0 - self.dropout_rate)).unsqueeze(1)
        return self.base.output_layer(x)
