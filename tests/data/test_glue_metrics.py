"""GLUE metrics against values computed by hand, from outputs [A, B, C] (logits, or scores for STS-B)."""

from __future__ import annotations

import math

import pytest
import torch

from epinet_al.data.glue_tasks import GLUE_TASKS, get_glue_task
from epinet_al.metrics import glue_metrics


def _one_hot_probs(preds: list[int], num_classes: int = 2, confidence: float = 0.9) -> torch.Tensor:
    """[B, C] probabilities whose argmax is `preds`."""
    rest = (1 - confidence) / (num_classes - 1)
    probs = torch.full((len(preds), num_classes), rest)
    probs[torch.arange(len(preds)), torch.tensor(preds)] = confidence
    return probs


def _outputs(probs: torch.Tensor) -> torch.Tensor:
    """Outputs [A=1, B, C] whose marginal predictive is `probs` [B, C]: log-probabilities are logits."""
    return probs.log()[None]


# Binary confusion matrix TP=6, TN=3, FP=1, FN=2 (positive class 1).
LABELS = [1] * 6 + [0] * 3 + [0] * 1 + [1] * 2
PREDS = [1] * 6 + [0] * 3 + [1] * 1 + [0] * 2


def test_mrpc_f1_and_accuracy_of_known_confusion_matrix():
    m = glue_metrics(get_glue_task("mrpc"), _outputs(_one_hot_probs(PREDS)), torch.tensor(LABELS))
    assert set(m) == {"f1", "acc", "nll"}
    # precision 6/7, recall 6/8 -> F1 = 2 TP / (2 TP + FP + FN) = 12/15
    assert m["f1"] == pytest.approx(0.8)
    assert m["acc"] == pytest.approx(9 / 12)
    # Correct rows give p(y) = 0.9, wrong ones 0.1.
    assert m["nll"] == pytest.approx(-(9 * math.log(0.9) + 3 * math.log(0.1)) / 12)


def test_cola_matthews_of_known_confusion_matrix():
    m = glue_metrics(get_glue_task("cola"), _outputs(_one_hot_probs(PREDS)), torch.tensor(LABELS))
    tp, tn, fp, fn = 6, 3, 1, 2
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert m["matthews"] == pytest.approx(mcc)  # 16 / sqrt(1120) ~ 0.478
    labels = torch.tensor([0, 1, 1, 0])
    perfect = glue_metrics(get_glue_task("cola"), _outputs(_one_hot_probs([0, 1, 1, 0])), labels)
    inverted = glue_metrics(get_glue_task("cola"), _outputs(_one_hot_probs([1, 0, 0, 1])), labels)
    assert perfect["matthews"] == pytest.approx(1) and inverted["matthews"] == pytest.approx(-1)


def test_f1_counts_class_1_as_positive():
    # All predicted 0: no true positives, so F1 of class 1 is 0 although accuracy is 3/4.
    m = glue_metrics(get_glue_task("qqp"), _outputs(_one_hot_probs([0, 0, 0, 0])), torch.tensor([0, 0, 0, 1]))
    assert m["f1"] == 0.0 and m["acc"] == pytest.approx(0.75)


def test_nll_of_known_probabilities_and_accuracy_from_argmax():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25], [0.2, 0.2, 0.6]])
    labels = torch.tensor([0, 2, 0, 1])
    m = glue_metrics(get_glue_task("mnli"), _outputs(probs), labels)
    assert set(m) == {"acc", "nll"}
    assert m["acc"] == pytest.approx(0.5)
    assert m["nll"] == pytest.approx(-(math.log(0.7) + math.log(0.6) + math.log(0.25) + math.log(0.2)) / 4)


def test_nll_is_exact_for_a_confidently_wrong_prediction():
    # Logit margin 100 against the true class: -log p(y) = log(1 + e^100) ~ 100, not clamped at -log 1e-12.
    m = glue_metrics(get_glue_task("rte"), torch.tensor([[[100.0, 0.0], [0.0, 1.0]]]), torch.tensor([1, 1]))
    assert m["nll"] == pytest.approx((100.0 + math.log1p(math.exp(-1.0))) / 2)


def test_nll_is_the_log_loss_of_the_mean_softmax_over_index_samples():
    # Two index samples, one sure of class 0 and one of class 1: the marginal is (1/2, 1/2).
    logits = torch.tensor([[[50.0, 0.0]], [[0.0, 50.0]]])
    m = glue_metrics(get_glue_task("rte"), logits, torch.tensor([0]))
    assert m["nll"] == pytest.approx(math.log(2.0))


def _scores(predictions: torch.Tensor) -> torch.Tensor:
    """Regression outputs [A=1, B, 1] from predictions [B]."""
    return predictions[None, :, None]


def test_stsb_pearson_and_spearman():
    target = torch.tensor([0.0, 1.0, 2.5, 4.0, 5.0])
    m = glue_metrics(get_glue_task("stsb"), _scores(0.5 * target + 1.0), target)
    assert set(m) == {"pearson", "spearman"}
    assert m["pearson"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    # Monotone but not linear: Spearman stays 1, Pearson drops below it.
    m = glue_metrics(get_glue_task("stsb"), _scores(target**3), target)
    assert m["spearman"] == pytest.approx(1.0) and m["pearson"] < 0.99
    m = glue_metrics(get_glue_task("stsb"), _scores(-target), target)
    assert m["pearson"] == pytest.approx(-1.0) and m["spearman"] == pytest.approx(-1.0)


def test_stsb_scores_the_mean_output_over_index_samples():
    target = torch.tensor([0.0, 1.0, 3.0])
    # Sample 0 is anti-correlated with the target, but the mean over samples (3 * target) is not.
    outputs = torch.stack([-target, 7 * target])[:, :, None]
    assert glue_metrics(get_glue_task("stsb"), outputs, target)["pearson"] == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(GLUE_TASKS))
def test_keys_are_the_task_metrics(name):
    task = GLUE_TASKS[name]
    torch.manual_seed(0)
    if task.is_regression:
        out, labels = torch.rand(3, 8, 1) * 5, torch.rand(8) * 5
    else:
        out, labels = torch.randn(3, 8, task.num_labels), torch.arange(8) % task.num_labels
    m = glue_metrics(task, out, labels)
    assert tuple(m) == task.metrics
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())


def test_rejects_bad_shapes_and_labels():
    task = get_glue_task("rte")
    with pytest.raises(ValueError, match=r"expected outputs \[A, B, 2\]"):
        glue_metrics(task, torch.tensor([[0.2, 0.3]]), torch.tensor([0]))  # [B, C] without the index axis
    with pytest.raises(ValueError, match=r"expected outputs \[A, B, 2\]"):
        glue_metrics(task, torch.zeros(1, 1, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"labels must be integer class ids in \[0, 2\)"):
        glue_metrics(task, torch.zeros(1, 1, 2), torch.tensor([2]))
    with pytest.raises(ValueError, match=r"expected outputs \[A, B, 1\]"):
        glue_metrics(get_glue_task("stsb"), torch.rand(1, 4, 2), torch.rand(4))
    with pytest.raises(ValueError, match="empty"):
        glue_metrics(task, torch.empty(1, 0, 2), torch.empty(0, dtype=torch.long))
