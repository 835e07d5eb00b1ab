"""Build an uncertainty head from its config, through its spec in ``epinet_al.networks.specs``."""

from __future__ import annotations

from typing import Any

from epinet_al.networks.head import Head
from epinet_al.networks.specs import HEADS
from epinet_al.registry import load


def build_head(cfg: Any, feature_dim: int, num_outputs: int) -> Head:
    """The head named ``cfg.name`` on features of width ``feature_dim`` with ``num_outputs`` outputs."""
    return load(HEADS.get(cfg.name).build)(cfg, feature_dim, num_outputs)
