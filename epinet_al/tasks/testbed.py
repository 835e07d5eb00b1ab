"""task=testbed: the synthetic neural-testbed problem with its marginal and joint evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from epinet_al.data.inputs import TensorInputs
from epinet_al.data.testbed import TestbedData, make_testbed
from epinet_al.metrics import joint_nll, marginal_metrics
from epinet_al.tasks.specs import TestbedTaskConfig
from epinet_al.tasks.task import ActiveLearningTask


class TestbedEvaluator:
    """test/acc and test/nll of the marginal predictive, test/joint_nll from dyadic batches."""

    def __init__(self, data: TestbedData, batch_size: int):
        self.data = data
        self.batch_size = batch_size

    def _logits(self, predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return torch.cat([predict(chunk) for chunk in x.split(self.batch_size)], dim=1)

    def __call__(self, predict: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        metrics = marginal_metrics(self._logits(predict, self.data.test_x), self.data.test_y)
        num_batches, tau, dim = self.data.joint_x.shape
        joint_logits = self._logits(predict, self.data.joint_x.reshape(-1, dim))  # same index per batch
        metrics["joint_nll"] = joint_nll(joint_logits.unflatten(1, (num_batches, tau)), self.data.joint_y)
        return {f"test/{name}": value for name, value in metrics.items()}


def build_testbed_task(
    cfg: TestbedTaskConfig, model_cfg: Any, eval_cfg: Any, device: torch.device | None = None
) -> ActiveLearningTask:
    """The testbed problem of ``cfg`` (checked when composed); the model and device play no part in it."""
    data = make_testbed(
        input_dim=cfg.input_dim,
        num_classes=cfg.num_classes,
        temperature=cfg.temperature,
        pool_size=cfg.pool_size,
        test_size=cfg.test_size,
        num_joint_batches=cfg.num_joint_batches,
        tau=cfg.tau,
        kappa=cfg.kappa,
        seed=cfg.seed,
    )
    return ActiveLearningTask(
        name=cfg.name,
        pool=TensorInputs(data.pool_x),
        pool_labels=data.pool_y,
        evaluator=TestbedEvaluator(data, eval_cfg.batch_size),
        num_outputs=cfg.num_classes,
        primary_metric="test/nll",
        metric_mode="min",
        temperature=cfg.temperature,
    )
