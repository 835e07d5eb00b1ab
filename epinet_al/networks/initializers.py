"""The reference initialisation of the JAX epinet library, in PyTorch.

The reference draws weights from a normal with std 1/sqrt(fan_in) truncated at 2 std, without
rescaling the variance (effective std ~0.88/sqrt(fan_in)), and zero biases. The epinet's frozen
prior *is* its random initialisation, so PyTorch's default Linear init (~0.58/sqrt(fan_in)) would
silently shrink the prior: every Linear in the heads and the prior goes through this function.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def reference_init_(linear: nn.Linear, generator: torch.Generator | None = None) -> nn.Linear:
    """Truncated-normal weights with std 1/sqrt(fan_in), cut at +-2 std; zero bias. In place."""
    std = 1.0 / math.sqrt(linear.in_features)
    with torch.no_grad():
        nn.init.trunc_normal_(linear.weight, std=std, a=-2 * std, b=2 * std, generator=generator)
        if linear.bias is not None:
            linear.bias.zero_()
    return linear


def reference_linear(in_features: int, out_features: int) -> nn.Linear:
    """An nn.Linear with the reference initialisation."""
    return reference_init_(nn.Linear(in_features, out_features))
