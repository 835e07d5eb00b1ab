"""task=testbed: the synthetic neural-testbed problem with its marginal and joint evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from epinet_al.data.inputs import TensorInputs
from epinet_al.data.testbed import TestbedData, make_testbed
from epinet_al.metrics import joint_nll, marginal_metrics, predict_outputs
from epinet_al.tasks.specs import TestbedTaskConfig
from epinet_al.tasks.task import ActiveLearningTask
from epinet_al.uncertainty import uncertainty_diagnostics


class TestbedEvaluator:
    """On the test set: test/acc and test/nll of the marginal predictive, the uncertainty diagnostics
    (``uncertainty_diagnostics``), and test/joint_nll from the dyadic batches with resampled labels."""

    def __init__(self, data: TestbedData, batch_size: int):
        self.data = data
        self.test = TensorInputs(data.test_x)
        self.test_batches = list(torch.arange(len(self.test)).split(batch_size))
        self.joint = TensorInputs(data.joint_x.flatten(0, 1))  # [K * tau, D]; the same index per batch
        self.joint_batches = list(torch.arange(len(self.joint)).split(batch_size))

    def __call__(self, predict: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        logits = predict_outputs(predict, self.test, self.test_batches)  # [A, T, C]
        metrics = marginal_metrics(logits, self.data.test_y)
        joint_logits = predict_outputs(predict, self.joint, self.joint_batches)
        metrics["joint_nll"] = joint_nll(joint_logits.unflatten(1, self.data.joint_y.shape), self.data.joint_y)
        metrics.update(uncertainty_diagnostics(logits, self.data.test_y))
        return {f"test/{name}": value for name, value in metrics.items()}


def build_testbed_task(
    cfg: TestbedTaskConfig,
    model_cfg: Any,
    eval_cfg: Any,
    device: torch.device | None = None,
    check_pool: Callable[[int], None] = lambda pool_size: None,
) -> ActiveLearningTask:
    """The testbed problem of ``cfg`` (checked when composed); the model and device play no part in it.

    ``check_pool(pool size)`` runs before the problem is drawn.
    """
    check_pool(cfg.pool_size)
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
