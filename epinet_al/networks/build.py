"""Build an uncertainty head from its config: one builder per head name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from epinet_al.networks.epinet import EpinetHead
from epinet_al.networks.head import Head, MLPHead


def _mlp(cfg: Any, feature_dim: int, num_outputs: int) -> Head:
    return MLPHead(feature_dim, num_outputs, hidden=cfg.hidden)


def _epinet(cfg: Any, feature_dim: int, num_outputs: int) -> Head:
    return EpinetHead(
        feature_dim,
        num_outputs,
        hidden=cfg.hidden,
        index_dim=cfg.index_dim,
        epinet_hidden=cfg.epinet_hidden,
        include_hidden=cfg.include_hidden,
        prior=cfg.prior,
        prior_hidden=cfg.prior_hidden,
        prior_scale=cfg.prior_scale,
    )


HEADS: dict[str, Callable[[Any, int, int], Head]] = {"mlp": _mlp, "epinet": _epinet}


def build_head(cfg: Any, feature_dim: int, num_outputs: int) -> Head:
    """The head named ``cfg.name`` on features of width ``feature_dim`` with ``num_outputs`` outputs."""
    try:
        builder = HEADS[cfg.name]
    except KeyError:
        raise ValueError(f"unknown head {cfg.name!r}; valid heads: {', '.join(HEADS)}") from None
    return builder(cfg, feature_dim, num_outputs)
