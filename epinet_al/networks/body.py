"""The ENN's body: an encoder that trains with the head, or the identity on vectors (testbed) or cached features."""

from __future__ import annotations

import torch
from torch import nn

from epinet_al.data.inputs import Inputs
from epinet_al.networks.encoder import EncoderBody


def build_body(encoder: EncoderBody | None, pool: Inputs) -> tuple[nn.Module, int]:
    """The body and the width F of the features [B, F] it gives the head.

    ``encoder``: an ``EncoderBody`` that trains with the head (the whole encoder, or its top layers), or None,
    and the body is the identity on the pool's vectors (the testbed's inputs, or a frozen encoder's cached features).
    """
    if encoder is not None:
        return encoder, encoder.feature_dim
    return nn.Identity(), pool.take(torch.zeros(1, dtype=torch.long)).shape[-1]
