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


def stacked_mlps(
    num: int, in_dim: int, hidden: Sequence[int], out_dim: int
) -> tuple[nn.ParameterList, nn.ParameterList]:
    """``num`` independent MLPs (each with its own reference initialisation) stored stacked, for ``stacked_forward``.

    Returns the weights, one [num, in, out] per layer, and the biases, one [num, out] per layer.
    """
    members = [MLP(in_dim, hidden, out_dim) for _ in range(num)]
    layers = [[*member.hidden_layers, member.output_layer] for member in members]
    weights = nn.ParameterList(
        nn.Parameter(torch.stack([m[i].weight.detach().T for m in layers])) for i in range(len(layers[0]))
    )
    biases = nn.ParameterList(
        nn.Parameter(torch.stack([m[i].bias.detach() for m in layers])) for i in range(len(layers[0]))
    )
    return weights, biases


def stacked_forward(
    x: torch.Tensor, weights: nn.ParameterList, biases: nn.ParameterList, members: torch.Tensor | None = None
) -> torch.Tensor:
    """x [B, F] through the stacked MLPs ``members`` [U] (all when None) at once, by batched products: [U, B, out]."""
    count = len(weights[0]) if members is None else members.shape[0]
    out = x.unsqueeze(0).expand(count, -1, -1)
    for layer, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
        if members is not None:
            weight, bias = weight[members], bias[members]
        out = torch.baddbmm(bias.unsqueeze(1), torch.relu(out) if layer > 0 else out, weight)
    return out
