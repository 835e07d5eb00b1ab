"""Tasks: what the acquisition loop learns on (pool, hidden labels, evaluator), built from config."""

from typing import Any

from epinet_al.config import EvalConfig, TestbedTaskConfig
from epinet_al.tasks.task import ActiveLearningTask
from epinet_al.tasks.testbed import build_testbed_task


def build_task(cfg: Any, eval_cfg: EvalConfig) -> ActiveLearningTask:
    """The task described by ``cfg`` (a task config dataclass)."""
    if isinstance(cfg, TestbedTaskConfig):
        return build_testbed_task(cfg, eval_cfg.batch_size)
    raise ValueError(f"unknown task {getattr(cfg, 'name', cfg)!r}; valid tasks: testbed")


__all__ = ["ActiveLearningTask", "build_task"]
