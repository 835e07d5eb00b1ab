"""Build an uncertainty head from its config: one builder per head name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from epinet_al.networks.dropout import DropoutHead
from epinet_al.networks.encoder_dropout import EncoderDropoutHead
from epinet_al.networks.ensemble import EnsembleHead
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


def _dropout(cfg: Any, feature_dim: int, num_outputs: int) -> Head:
    return DropoutHead(feature_dim, num_outputs, hidden=cfg.hidden, dropout_rate=cfg.dropout_rate)


def _ensemble(cfg: Any, feature_dim: int, num_outputs: int) -> Head:
    return EnsembleHead(feature_dim, num_outputs, hidden=cfg.hidden, ensemble_size=cfg.ensemble_size)


def _encoder_dropout(cfg: Any, feature_dim: int, num_outputs: int) -> Head:
    return EncoderDropoutHead(feature_dim, num_outputs, hidden=cfg.hidden, dropout_rate=cfg.dropout_rate)


HEADS: dict[str, Callable[[Any, int, int], Head]] = {
    "mlp": _mlp,
    "epinet": _epinet,
    "dropout": _dropout,
    "ensemble": _ensemble,
    "encoder_dropout": _encoder_dropout,
}


def build_head(cfg: Any, feature_dim: int, num_outputs: int) -> Head:
    """The head named ``cfg.name`` on features of width ``feature_dim`` with ``num_outputs`` outputs."""
    try:
        builder = HEADS[cfg.name]
    except KeyError:
        raise ValueError(f"unknown head {cfg.name!r}; valid heads: {', '.join(HEADS)}") from None
    return builder(cfg, feature_dim, num_outputs)
