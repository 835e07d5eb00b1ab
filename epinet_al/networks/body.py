"""The ENN's body: the identity on vectors (testbed) or on cached features, or an encoder that trains."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from epinet_al.data.inputs import Inputs
from epinet_al.networks.encoder import build_encoder_body


def build_body(encoder_cfg: Any | None, pool: Inputs) -> tuple[nn.Module, int]:
    """The body and the width F of the features [B, F] it gives the head.

    ``encoder_cfg``: the config of an encoder that trains with the head (full fine-tuning), or None, and the
    body is the identity on the pool's vectors (the testbed's inputs, or a frozen encoder's cached features).
    """
    if encoder_cfg is not None:
        body = build_encoder_body(encoder_cfg)
        return body, body.feature_dim
    return nn.Identity(), pool.take(torch.zeros(1, dtype=torch.long)).shape[-1]

