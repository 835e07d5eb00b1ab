"""The one prediction and metric path: batched outputs, marginal and joint log-loss, both evaluators."""

from __future__ import annotations

import math

import pytest
import torch

from epinet_al.acquisition.priorities import get_priority
from epinet_al.data.glue_tasks import get_glue_task
from epinet_al.data.inputs import TensorInputs
from epinet_al.data.testbed import make_testbed
from epinet_al.metrics import dyadic_batches, joint_nll, marginal_metrics, predict_outputs
from epinet_al.predictive import marginal_log_probs
from epinet_al.tasks import testbed  # not its TestbedEvaluator by name: pytest would try to collect it
from epinet_al.tasks.glue_eval import EvalSplit, GlueEvaluator

DIAGNOSTICS = {"spread", "spread_cv", "spearman_var_ent", "ece", "majority_fraction"}


def test_predict_outputs_puts_batches_back_in_input_order():
    inputs = TensorInputs(torch.arange(5.0)[:, None])  # input i is the number i

    def predict(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x, -x])  # [A=2, B, 1]

    outputs = predict_outputs(predict, inputs, [torch.tensor([3, 1]), torch.tensor([0, 4, 2])])
    assert outputs[:, :, 0].tolist() == [[0, 1, 2, 3, 4], [0, -1, -2, -3, -4]]
    with pytest.raises(ValueError, match="exactly once"):
        predict_outputs(predict, inputs, [torch.tensor([3, 1]), torch.tensor([0, 4])])


def test_marginal_log_probs_is_the_log_of_the_mean_softmax():
    logits = torch.tensor([[[50.0, 0.0]], [[0.0, 50.0]]])  # samples sure of opposite classes
    assert marginal_log_probs(logits).exp()[0].tolist() == pytest.approx([0.5, 0.5])
    # Far in the tail it stays exact: p(class 1) = e^-200, where a probability clamp would stop at 1e-12.
    assert marginal_log_probs(torch.tensor([[[200.0, 0.0]]]))[0, 1].item() == pytest.approx(-200.0)


def test_priorities_read_the_same_marginal():
    logits = torch.randn(4, 6, 3, generator=torch.Generator().manual_seed(0))
    log_pbar = marginal_log_probs(logits)
    entropy = -(log_pbar.exp() * log_pbar).sum(-1)
    assert torch.allclose(get_priority("entropy")(logits.double()), entropy)
    assert torch.allclose(get_priority("var_ratios")(logits.double()), 1 - log_pbar.exp().max(-1).values)


def test_marginal_metrics_by_hand():
    probs = torch.tensor([[0.7, 0.3], [0.4, 0.6], [0.8, 0.2]])
    metrics = marginal_metrics(probs.log()[None], torch.tensor([0, 0, 1]))
    assert metrics["acc"] == pytest.approx(1 / 3)
    assert metrics["nll"] == pytest.approx(-(math.log(0.7) + math.log(0.4) + math.log(0.2)) / 3)


def test_joint_nll_by_hand():
    # A = 2, one batch of tau = 2: sample 0 gives p(y) = 0.5 and 0.5, sample 1 gives 0.9 and 0.8.
    probs = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]], [[[0.9, 0.1], [0.2, 0.8]]]])  # [A, K, tau, C]
    value = joint_nll(probs.log(), torch.tensor([[0, 1]]))
    assert value == pytest.approx(-math.log((0.25 + 0.72) / 2))


def test_dyadic_batches_repeat_kappa_anchors():
    batches = dyadic_batches(50, torch.Generator().manual_seed(0), num_batches=20, tau=10, kappa=2)
    assert batches.shape == (20, 10) and batches.min() >= 0 and batches.max() < 50
    assert all(len(set(row.tolist())) <= 2 for row in batches)
    assert torch.equal(batches, dyadic_batches(50, torch.Generator().manual_seed(0), num_batches=20, tau=10, kappa=2))


def _linear_predict(weights: torch.Tensor):
    """predict: features [B, F] -> logits [A, B, C] with one weight matrix [F, C] per index sample."""
    return lambda x: torch.einsum("bf,afc->abc", x, weights)


def test_testbed_evaluator_keys_and_an_inert_head():
    data = make_testbed(
        input_dim=3, num_classes=2, temperature=1.0, pool_size=4, test_size=20,
        num_joint_batches=5, tau=10, kappa=2, seed=0,
    )  # fmt: skip
    evaluator = testbed.TestbedEvaluator(data, batch_size=7)
    weights = torch.randn(1, 3, 2, generator=torch.Generator().manual_seed(0))
    metrics = evaluator(_linear_predict(weights.expand(3, -1, -1)))  # three identical index samples
    assert set(metrics) == {"test/acc", "test/nll", "test/joint_nll"} | {f"test/{k}" for k in DIAGNOSTICS}
    assert metrics["test/spread"] == 0.0
    assert math.isnan(metrics["test/spread_cv"]) and math.isnan(metrics["test/spearman_var_ent"])
    # An inert index: the joint log-loss of tau inputs is the sum of their marginal log-losses.
    logits = _linear_predict(weights)(data.joint_x.flatten(0, 1)).unflatten(1, data.joint_y.shape)
    per_input = -torch.log_softmax(logits[0].double(), -1).gather(-1, data.joint_y[..., None])
    assert metrics["test/joint_nll"] == pytest.approx(per_input.sum((1, 2)).mean().item())


def _glue_evaluator(task_name: str, labels: torch.Tensor, seed: int = 0) -> GlueEvaluator:
    features = torch.randn(labels.shape[0], 4, generator=torch.Generator().manual_seed(1))
    batches = list(torch.randperm(labels.shape[0], generator=torch.Generator().manual_seed(2)).split(5))
    return GlueEvaluator(get_glue_task(task_name), [EvalSplit("val", TensorInputs(features), labels, batches)], seed)


def test_glue_evaluator_adds_joint_nll_and_diagnostics():
    labels = torch.arange(12) % 2
    evaluator = _glue_evaluator("sst2", labels)
    weights = torch.randn(4, 4, 2, generator=torch.Generator().manual_seed(3))
    metrics = evaluator(_linear_predict(weights))
    assert set(metrics) == {"val/acc", "val/nll", "val/joint_nll"} | {f"val/{k}" for k in DIAGNOSTICS}
    # joint_nll scores the fixed dyadic batches of the split's inputs with their real labels.
    features = evaluator.splits[0].inputs.data
    positions = evaluator.joint_batches[0]
    expected = joint_nll(_linear_predict(weights)(features)[:, positions], labels[positions])
    assert metrics["val/joint_nll"] == pytest.approx(expected)
    # The batches are drawn once: a second evaluation point, or an evaluator with the same seed, reuses them.
    assert evaluator(_linear_predict(weights)) == metrics
    assert torch.equal(_glue_evaluator("sst2", labels).joint_batches[0], positions)
    assert not torch.equal(_glue_evaluator("sst2", labels, seed=1).joint_batches[0], positions)


def test_glue_evaluator_on_regression():
    evaluator = _glue_evaluator("stsb", torch.linspace(0, 5, 12))
    metrics = evaluator(_linear_predict(torch.randn(3, 4, 1, generator=torch.Generator().manual_seed(3))))
    assert set(metrics) == {"val/pearson", "val/spearman", "val/spread", "val/spread_cv"}
    assert metrics["val/spread"] > 0
