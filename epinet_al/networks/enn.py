"""An epistemic neural network: a body (feature extractor) and an uncertainty head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from epinet_al.networks.head import Head


class ENN(nn.Module):
    """f(x, z) for A indices at once: the body runs once per batch, the head once per index.

    ``inputs`` is whatever the body takes (a tensor for the testbed, token ids for an encoder);
    the body returns features [B, F]; the head turns them and ``index`` [A, ...] into [A, B, C].
    """

    def __init__(self, body: nn.Module, head: Head):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, inputs: Any, index: torch.Tensor) -> torch.Tensor:
        if self.head.body_per_index:  # the costly exception: A body passes (see Head.body_per_index)
            return self.head.forward_with_body(self.body, inputs, index)
        features = self.body(inputs)
        return self.head(features, index.to(features.device))
