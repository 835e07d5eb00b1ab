"""MC dropout inside the encoder (head=encoder_dropout): the expensive baseline of other libraries.

Each index sample is a pair of seeds [2]: the first seeds the encoder's dropout (every dropout layer
of the encoder, active even when the model is in eval mode), the second the head's keep-masks on its
hidden units (one mask per sample shared by the batch, as in the dropout head). The encoder runs once
per index sample, in a forked RNG seeded with the sample's seed, so a given index gives the same
outputs in training, scoring and evaluation, and the global RNG is left untouched.

Cost: scoring or evaluating A index samples costs A encoder forward passes where the epinet costs
one (A = acquisition.num_index_samples = 100 by default: about 100 times the epinet's scoring time
with an encoder that dominates the compute); a training step costs train_index_samples (default 1)
encoder forward and backward passes. Inside the encoder the masks are per element, as in ordinary
dropout: an example's sample a depends on its batch, not on the example alone.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from epinet_al.networks.dropout import DropoutHead

_SEED_HIGH = 2**62


class EncoderDropoutHead(DropoutHead):
    """The dropout head (masks on its hidden units) over an encoder that runs with dropout per sample."""

    def sample_index(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` seed pairs [A, 2] (int64): the encoder's dropout seed, the head's mask seed."""
        return torch.randint(0, _SEED_HIGH, (num, 2), generator=generator)

    def _keep_masks(self, seeds: torch.Tensor) -> torch.Tensor:
        """One keep-mask [sum(H)] per seed: [A, sum(H)], 1 = keep, each unit kept with probability 1 - p."""
        masks = [torch.rand(sum(self.widths), generator=torch.Generator().manual_seed(s)) for s in seeds.tolist()]
        return (torch.stack(masks) >= self.dropout_rate).float()

    def forward(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """features [B, F] (or [A, B, F], one per index sample), seed pairs [A, 2] -> logits [A, B, C]."""
        if index.ndim != 2 or index.shape[1] != 2 or index.is_floating_point():
            raise ValueError(
                f"encoder_dropout index must be integer seed pairs [A, 2], got {index.dtype} {tuple(index.shape)}"
            )
        return super().forward(features, self._keep_masks(index[:, 1].cpu()).to(features.device))

    def forward_with_body(self, body: nn.Module, inputs: Any, index: torch.Tensor) -> torch.Tensor:
        """The body once per index sample, its dropout on and seeded by index[a, 0]: logits [A, B, C]."""
        device = next(body.parameters()).device
        was_training = body.training
        body.train()  # dropout on, in scoring and evaluation too: the masks are the index
        try:
            features = []
            for seed in index[:, 0].tolist():
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    torch.manual_seed(seed)
                    features.append(body(inputs))
        finally:
            body.train(was_training)
        return self(torch.stack(features), index)  # [A, B, F] -> [A, B, C]
