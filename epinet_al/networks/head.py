"""The uncertainty-head interface shared by every head, and the plain (index-free) MLP head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from epinet_al.networks.mlp import MLP


class Head(nn.Module):
    """Maps features [B, F] and A epistemic indices to logits [A, B, C].

    One index is shared by the whole batch (never one per example): the joint structure over a
    batch is what BALD, variance and the joint log-loss measure. ``sample_index`` draws A indices
    from the head's reference distribution; ``forward`` evaluates all of them at once, so the
    features (and anything before the head) are computed once for A samples.
    """

    #: False for heads whose output does not depend on the index (epistemic priorities are 0).
    has_index: bool = True
    #: True for heads whose index also changes the body (MC dropout inside the encoder): the ENN then
    #: calls ``forward_with_body``, which runs the body once per index sample instead of once per batch.
    body_per_index: bool = False

    def sample_index(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class MLPHead(Head):
    """The plain classifier head: features -> hidden -> C. No index; all A samples are identical."""

    has_index = False

    def __init__(self, feature_dim: int, num_outputs: int, hidden: Sequence[int]):
        super().__init__()
        self.base = MLP(feature_dim, hidden, num_outputs)

    def sample_index(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.zeros(num, 0)

    def forward(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.base(features).unsqueeze(0).expand(index.shape[0], -1, -1)
