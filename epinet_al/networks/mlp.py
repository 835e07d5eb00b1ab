"""A ReLU MLP that also exposes its last hidden layer (the epinet reads it on the testbed)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from epinet_al.networks.initializers import reference_linear


class MLP(nn.Module):
    """in_dim -> hidden[0] -> ... -> hidden[-1] -> out_dim, ReLU between layers, reference init."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int):
        super().__init__()
        widths = [in_dim, *hidden]
        self.hidden_layers = nn.ModuleList(reference_linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.output_layer = reference_linear(widths[-1], out_dim)
        self.hidden_dim = widths[-1]

    def forward_with_hidden(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Output [..., out_dim] and the last hidden activation [..., hidden[-1]] (the input if no hidden)."""
        for layer in self.hidden_layers:
            x = torch.relu(layer(x))
        return self.output_layer(x), x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_hidden(x)[0]
