"""Uncertainty diagnostics against values computed by hand on tiny inputs."""

from __future__ import annotations

import math

import pytest
import torch

from epinet_al.uncertainty import (
    collapsed,
    expected_calibration_error,
    input_spread,
    is_index_inert,
    majority_fraction,
    spearman_var_ent,
    spread_cv,
    uncertainty_diagnostics,
)

# A = 2 index samples, B = 3 inputs, C = 2 classes.
# input 0: both samples [0, 0]              -> centred logits agree: spread 0
# input 1: [1, -1] and [3, -3]              -> margins -2, -6: sd 2, spread 2 / 2 = 1
# input 2: [2, 0] and [0, 2], centred ±1    -> per class sd 1: spread 1
LOGITS = torch.tensor(
    [
        [[0.0, 0.0], [1.0, -1.0], [2.0, 0.0]],
        [[0.0, 0.0], [3.0, -3.0], [0.0, 2.0]],
    ]
)


def test_spread_is_the_sd_over_samples_of_the_centred_logits():
    assert input_spread(LOGITS).tolist() == pytest.approx([0.0, 1.0, 1.0])


def test_spread_ignores_a_shift_common_to_all_classes():
    shifted = LOGITS + torch.tensor([5.0, -7.0])[:, None, None]  # one shift per index sample
    assert input_spread(shifted).tolist() == pytest.approx([0.0, 1.0, 1.0])


def test_spread_of_three_classes_averages_over_classes():
    # Sample 1 moves one class by 3: centred changes (2, -1, -1), sd over 2 samples (1, 0.5, 0.5).
    logits = torch.tensor([[[0.0, 0.0, 0.0]], [[3.0, 0.0, 0.0]]])
    assert input_spread(logits).tolist() == pytest.approx([2.0 / 3.0])


def test_regression_spread_is_the_sd_of_the_output():
    outputs = torch.tensor([[[1.0], [2.0]], [[3.0], [2.0]]])  # [A=2, N=2, 1]
    assert input_spread(outputs, regression=True).tolist() == pytest.approx([1.0, 0.0])


def test_spread_cv_is_sd_over_mean_across_inputs():
    # [0, 1, 1]: mean 2/3, population sd sqrt(2)/3, cv 1/sqrt(2).
    assert spread_cv(torch.tensor([0.0, 1.0, 1.0])) == pytest.approx(1 / math.sqrt(2))
    assert spread_cv(torch.tensor([0.5, 0.5])) == 0.0


def test_spearman_var_ent_by_hand():
    # input 0: [0, 0] twice: variance 0 (rank 1), entropy log 2 (rank 3)
    # input 1: [1, 0], [3, 0]: p0 = 0.731, 0.953 -> variance 0.0246 (rank 3), entropy 0.436 (rank 2)
    # input 2: [5, 0], [9, 0]: p0 = 0.9933, 0.9999 -> variance 2e-5 (rank 2), entropy 0.022 (rank 1)
    # ranks (1, 3, 2) against (3, 2, 1): covariance -1, variances 2 -> -0.5.
    logits = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]], [[0.0, 0.0], [3.0, 0.0], [9.0, 0.0]]])
    assert spearman_var_ent(logits) == pytest.approx(-0.5)


def test_an_index_that_does_nothing_is_inert():
    same = LOGITS[:1].expand(4, -1, -1)  # four identical samples
    plain = LOGITS[:1]  # A = 1, a plain head
    for logits in (same, plain):
        diagnostics = uncertainty_diagnostics(logits, torch.tensor([0, 0, 1]))
        assert diagnostics["spread"] == 0.0 and is_index_inert(diagnostics["spread"])
        assert math.isnan(diagnostics["spread_cv"]) and math.isnan(diagnostics["spearman_var_ent"])
    assert not is_index_inert(float(input_spread(LOGITS).mean()))


def test_rounding_noise_over_identical_samples_is_inert():
    # The mean of three equal floats need not be exactly that float, so the sd can be ~1e-17 rather than 0.
    logits = torch.tensor([[[0.1, 0.0], [0.3, 0.0]]], dtype=torch.float64).expand(3, -1, -1).clone()
    assert is_index_inert(float(input_spread(logits).mean()))
    assert math.isnan(spearman_var_ent(logits))


def test_ece_of_one_input_per_bin():
    # Confidences 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (right), each alone in one of 15 bins:
    # ECE = (0.1 + 0.8 + 0.3 + 0.4) / 4.
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = torch.tensor([0, 1, 1, 0])
    assert expected_calibration_error(probs.log()[None], labels) == pytest.approx(0.4)


def test_ece_reads_the_marginal_predictive():
    # Samples sure of opposite classes: marginal (1/2, 1/2), right half the time -> calibrated.
    logits = torch.tensor([[[20.0, 0.0], [20.0, 0.0]], [[0.0, 20.0], [0.0, 20.0]]])
    assert expected_calibration_error(logits, torch.tensor([0, 1])) == pytest.approx(0.0, abs=1e-6)


def test_majority_fraction():
    assert majority_fraction(torch.tensor([0, 1, 1, 1])) == 0.75
    assert majority_fraction(torch.tensor([2, 2, 2])) == 1.0


@pytest.mark.parametrize(
    ("train_loss", "num_classes", "fraction", "expected"),
    [
        (None, 2, 0.995, True),  # predictions alone decide
        (None, 2, 0.98, False),
        (0.69, 2, 1.0, True),  # |0.69 - log 2| = 0.003 <= 0.02 log 2
        (0.5, 2, 1.0, False),  # constant predictions but the model is learning
        (1.07 * math.log(2), 2, 1.0, True),  # a flat epinet: its index noise keeps the loss above log 2
        (0.97 * math.log(3), 3, 1.0, False),
        (0.99 * math.log(3), 3, 0.99, True),
        (math.log(2), 2, 0.9, False),  # chance-level loss but varied predictions
    ],
)
def test_collapsed(train_loss, num_classes, fraction, expected):
    assert collapsed(train_loss, num_classes, fraction) is expected


def test_diagnostics_keys():
    labels = torch.tensor([0, 1, 1])
    assert set(uncertainty_diagnostics(LOGITS, labels)) == {
        "spread",
        "spread_cv",
        "spearman_var_ent",
        "ece",
        "majority_fraction",
    }
    regression = uncertainty_diagnostics(LOGITS[..., :1], labels.double(), regression=True)
    assert set(regression) == {"spread", "spread_cv"}
    assert uncertainty_diagnostics(LOGITS, labels)["spread"] == pytest.approx(2.0 / 3.0)
