"""Priority functions on hand-computed cases.

Logits are built as log-probabilities, so softmax(logits) is exactly the probability table written
in the test and every expected value can be worked out on paper.
"""

from __future__ import annotations

import math

import pytest
import torch

from epinet_al.acquisition.priorities import bald, entropy, get_priority, margin, uniform, var_ratios, variance
from epinet_al.acquisition.specs import EPISTEMIC_PRIORITIES, PRIORITY_SPECS


def logits_of(probs: list) -> torch.Tensor:
    """Logits [A, B, C] whose softmax is ``probs`` (zeros become -inf)."""
    return torch.tensor(probs, dtype=torch.float64).log()


def entropy_of(*p: float) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


# The priorities with the plain ``(logits, generator=None)`` signature, from the registry (target-based ones
# take more inputs and have their own tests).
BASIC = [spec.name for spec in PRIORITY_SPECS.specs() if not spec.needs_targets]

# Two index samples that disagree on one example: p_1 = (0.9, 0.1), p_2 = (0.5, 0.5), pbar = (0.7, 0.3).
TWO_SAMPLES = logits_of([[[0.9, 0.1]], [[0.5, 0.5]]])


def test_registry_names_match_functions():
    # One name per concept: the registry key is the function's name.
    assert all(get_priority(name).__name__ == name for name in PRIORITY_SPECS)
    assert {"uniform", "entropy", "margin", "var_ratios", "bald", "variance"} <= set(BASIC)
    assert {"bald", "variance"} <= EPISTEMIC_PRIORITIES
    assert not {"uniform", "entropy", "margin", "var_ratios"} & EPISTEMIC_PRIORITIES


@pytest.mark.parametrize("name", BASIC)
def test_output_shape_is_batch(name):
    logits = torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(0))
    scores = get_priority(name)(logits, generator=torch.Generator().manual_seed(1))
    assert scores.shape == (7,)
    assert scores.dtype == logits.dtype
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("priority", [bald, variance])
def test_identical_index_samples_have_no_epistemic_uncertainty(priority):
    one = torch.randn(1, 6, 4, generator=torch.Generator().manual_seed(0))
    scores = priority(one.expand(5, -1, -1))
    assert torch.equal(scores, torch.zeros(6, dtype=scores.dtype))


def test_uniform_probabilities_maximise_entropy():
    num_classes = 5
    flat = entropy(torch.zeros(3, 1, num_classes))
    assert flat.item() == pytest.approx(math.log(num_classes), abs=1e-6)
    others = entropy(torch.randn(3, 20, num_classes, generator=torch.Generator().manual_seed(0)))
    assert (others < flat).all()


def test_entropy_is_of_the_mean_prediction():
    assert entropy(TWO_SAMPLES).item() == pytest.approx(entropy_of(0.7, 0.3), abs=1e-12)


def test_margin_hand_case_and_ordering():
    # Example 0 is confident, example 1 ambiguous; the third class never matters.
    scores = margin(logits_of([[[0.98, 0.01, 0.01], [0.4, 0.35, 0.25]]]))
    assert scores.tolist() == pytest.approx([-(0.98 - 0.01), -(0.4 - 0.35)], abs=1e-12)
    assert scores[0] < scores[1]
    # The gap is between the two largest *mean* probabilities: pbar = (0.7, 0.3).
    assert margin(TWO_SAMPLES).item() == pytest.approx(-0.4, abs=1e-12)


def test_margin_needs_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes"):
        margin(torch.zeros(2, 3, 1))


def test_var_ratios_is_one_minus_max_mean_probability():
    assert var_ratios(TWO_SAMPLES).item() == pytest.approx(1 - 0.7, abs=1e-12)
    scores = var_ratios(logits_of([[[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]]]))
    assert scores.tolist() == pytest.approx([0.5, 0.0], abs=1e-12)


def test_bald_hand_cases():
    # Mutual information: H[pbar] - mean_a H[p_a].
    expected = entropy_of(0.7, 0.3) - (entropy_of(0.9, 0.1) + entropy_of(0.5, 0.5)) / 2
    assert bald(TWO_SAMPLES).item() == pytest.approx(expected, abs=1e-12)
    # Two certain but opposite samples: one full bit of disagreement, log 2 nats.
    opposite = logits_of([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert bald(opposite).item() == pytest.approx(math.log(2), abs=1e-12)


def test_variance_is_population_variance_summed_over_classes():
    # Per class: ((0.9 - 0.7)^2 + (0.5 - 0.7)^2) / 2 = 0.04; two classes.
    assert variance(TWO_SAMPLES).item() == pytest.approx(0.08, abs=1e-12)
    # Three samples (1, 0), (0, 1), (0, 1): pbar = (1/3, 2/3), per class (4/9 + 1/9 + 1/9) / 3 = 2/9.
    # The unbiased (sample) variance would give 1/3 per class instead.
    three = logits_of([[[1.0, 0.0]], [[0.0, 1.0]], [[0.0, 1.0]]])
    assert variance(three).item() == pytest.approx(4 / 9, abs=1e-12)


@pytest.mark.parametrize("name", BASIC)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_probabilities_give_finite_scores(name, dtype):
    # Probabilities of exactly 0 (-inf logits) and of e^-1e9 (0 in any float).
    logits = torch.tensor(
        [
            [[0.0, -math.inf, -math.inf], [0.0, -1e9, -1e9], [0.0, 0.0, -math.inf]],
            [[-math.inf, 0.0, -math.inf], [0.0, -1e9, -1e9], [0.0, -1e9, -math.inf]],
        ],
        dtype=dtype,
    )
    scores = get_priority(name)(logits, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(scores).all(), scores
    if name in EPISTEMIC_PRIORITIES:
        # Example 1: both samples certain of class 0, nothing to learn from the index.
        assert scores[1].item() == 0.0
    if name == "bald":
        assert scores[0].item() == pytest.approx(math.log(2), abs=1e-6)


def test_uniform_is_seeded_and_in_unit_interval():
    logits = torch.zeros(3, 1000, 2)
    first = uniform(logits, generator=torch.Generator().manual_seed(7))
    again = uniform(logits, generator=torch.Generator().manual_seed(7))
    other = uniform(logits, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.shape == (1000,)
    assert (first >= 0).all() and (first < 1).all()
    assert first.std() > 0.2  # spread over [0, 1), not constant


def test_get_priority_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="nope") as info:
        get_priority("nope")
    for name in PRIORITY_SPECS:
        assert name in str(info.value)


@pytest.mark.parametrize("name", BASIC)
@pytest.mark.parametrize("shape", [(5, 3), (2, 5, 3, 1), (5,)])
def test_wrong_logits_shape_raises(name, shape):
    with pytest.raises(ValueError, match=r"\[A, B, C\]"):
        get_priority(name)(torch.zeros(shape))


@pytest.mark.parametrize("name", BASIC)
def test_integer_logits_raise(name):
    with pytest.raises(ValueError, match="float"):
        get_priority(name)(torch.zeros(2, 3, 2, dtype=torch.long))
