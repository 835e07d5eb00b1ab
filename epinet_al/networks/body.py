"""The ENN's body from the model config: the identity on vectors (testbed) or on cached features, or an encoder."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from epinet_al.config import EncoderModelConfig
from epinet_al.data.inputs import Inputs
from epinet_al.networks.encoder import EncoderBody, build_encoder_body, encoder_param_groups


def build_body(model_cfg: Any, pool: Inputs) -> tuple[nn.Module, int]:
    """The body and the width F of the features [B, F] it gives the head.

    model=identity, and an encoder in frozen mode (the task's pool then holds its cached features),
    give the identity on the pool's vectors; an encoder in full mode is the body itself.
    """
    if isinstance(model_cfg, EncoderModelConfig) and model_cfg.finetune == "full":
        body = build_encoder_body(model_cfg)
        return body, body.feature_dim
    return nn.Identity(), pool.take(torch.zeros(1, dtype=torch.long)).shape[-1]


def body_param_groups(body: nn.Module, model_cfg: Any) -> list[dict[str, Any]]:
    """The optimizer groups of a fine-tuned encoder (its own learning rate); none for other bodies."""
    if isinstance(body, EncoderBody):
        return encoder_param_groups(body, model_cfg.lr, model_cfg.weight_decay)
    return []
