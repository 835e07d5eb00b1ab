"""Build a task from its config, through its spec in ``epinet_al.tasks.specs``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from epinet_al.networks.specs import ModelConfig
from epinet_al.registry import load
from epinet_al.tasks.specs import TASKS, TaskConfig
from epinet_al.tasks.task import ActiveLearningTask


def build_task(
    cfg: TaskConfig,
    eval_cfg: Any,
    model_cfg: ModelConfig | None = None,
    device: torch.device | None = None,
    check_pool: Callable[[int], None] = lambda pool_size: None,
) -> ActiveLearningTask:
    """The task described by ``cfg`` (a task config dataclass), evaluated in batches of ``eval_cfg.batch_size``.

    A GLUE task reads text through the encoder of ``model_cfg``; in frozen mode it computes (or reads
    from the cache) the encoder's features on ``device``. ``check_pool(pool size)`` runs as soon as the pool's size
    is known, before the expensive work (encoding).
    """
    return load(TASKS.of(cfg).build)(cfg, model_cfg, eval_cfg, device, check_pool)
