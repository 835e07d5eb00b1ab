"""The uncertainty-head interface shared by every head, and the plain (index-free) MLP head."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from epinet_al.networks.mlp import MLP
from epinet_al.networks.specs import HEADS
from epinet_al.registry import HeadSpec


def spec_of(head_class: type) -> HeadSpec:
    """The spec whose builder is ``head_class``'s (``"module:Class.from_config"``)."""
    for spec in HEADS.specs():
        module, _, attribute = spec.build.partition(":")
        if (module, attribute.split(".")[0]) == (head_class.__module__, head_class.__qualname__):
            return spec
    raise TypeError(f"{head_class.__qualname__} is no registered head: give it a HeadSpec in HEADS")


class Head(nn.Module):
    """Maps features [B, F] and A epistemic indices to logits [A, B, C].

    One index is shared by the whole batch (never one per example): the joint structure over a
    batch is what BALD, variance and the joint log-loss measure. ``sample_index`` draws A indices
    from the head's reference distribution; ``forward`` evaluates all of them at once, so the
    features (and anything before the head) are computed once for A samples.
    """

    @property
    def spec(self) -> HeadSpec:
        """The head's spec in ``epinet_al.networks.specs.HEADS``, the one place for its capabilities."""
        return spec_of(type(self))

    @property
    def has_index(self) -> bool:
        """False for heads whose output does not depend on the index (epistemic priorities are 0)."""
        return self.spec.has_index

    @property
    def body_per_index(self) -> bool:
        """True for heads whose index also changes the body (MC dropout inside the encoder): the ENN then
        calls ``forward_with_body``, which runs the body once per index sample instead of once per batch."""
        return self.spec.body_per_index

    #: Width F of the features the head reads (set by each head): the D of the reference L2 formulas.
    feature_dim: int

    def sample_index(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_with_body(self, body: nn.Module, inputs: object, index: torch.Tensor) -> torch.Tensor:
        """Logits [A, B, C] running ``body`` once per index sample (heads with ``body_per_index`` only)."""
        raise NotImplementedError

    def reference_l2(self, num_labels: int, temperature: float) -> float:
        """The scale s of the L2 term s * sum(theta^2) after ``num_labels`` labels (the reference recipe).

        google-deepmind/neural_testbed (agents/factories/baselines.py, dropout.py): s = sqrt(rho) * D / N for a
        single network, with D the input width and rho the problem's temperature (1 for real data): the
        prior's weight shrinks as labels accumulate, so few labels give a smooth, unconfident fit.
        """
        return math.sqrt(temperature) * self.feature_dim / num_labels

    def l2_penalty(self) -> torch.Tensor:
        """sum(theta^2) over the head's trainable parameters (a frozen prior has none), no 1/2: the reference's."""
        return torch.stack([p.square().sum() for p in self.parameters() if p.requires_grad]).sum()


class MLPHead(Head):
    """The plain classifier head: features -> hidden -> C. No index; all A samples are identical."""

    @classmethod
    def from_config(cls, cfg: Any, feature_dim: int, num_outputs: int) -> MLPHead:
        return cls(feature_dim, num_outputs, hidden=cfg.hidden)

    def __init__(self, feature_dim: int, num_outputs: int, hidden: Sequence[int]):
        super().__init__()
        self.feature_dim = feature_dim
        self.base = MLP(feature_dim, hidden, num_outputs)

    def sample_index(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.zeros(num, 0)

    def forward(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.base(features).unsqueeze(0).expand(index.shape[0], -1, -1)
