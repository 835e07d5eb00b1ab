"""Tasks: what the acquisition loop learns on (pool, hidden labels, evaluator), built from config."""

from typing import Any

import torch

from epinet_al.config import EvalConfig, GlueTaskConfig, TestbedTaskConfig
from epinet_al.data.glue_tasks import GLUE_TASKS
from epinet_al.tasks.glue import build_glue_task
from epinet_al.tasks.task import ActiveLearningTask
from epinet_al.tasks.testbed import build_testbed_task


def build_task(
    cfg: Any, eval_cfg: EvalConfig, model_cfg: Any = None, device: torch.device | None = None
) -> ActiveLearningTask:
    """The task described by ``cfg`` (a task config dataclass).

    A GLUE task reads text through the encoder of ``model_cfg``; in frozen mode it computes (or reads
    from the cache) the encoder's features on ``device``.
    """
    if isinstance(cfg, TestbedTaskConfig):
        return build_testbed_task(cfg, eval_cfg.batch_size)
    if isinstance(cfg, GlueTaskConfig):
        return build_glue_task(cfg, model_cfg, eval_cfg, device)
    raise ValueError(f"unknown task {getattr(cfg, 'name', cfg)!r}; valid tasks: testbed, {', '.join(GLUE_TASKS)}")


__all__ = ["ActiveLearningTask", "build_task"]
