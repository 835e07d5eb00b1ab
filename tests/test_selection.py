"""From scores to a labeling order: deterministic topk, and the seeded stochastic modes."""

from __future__ import annotations

import pytest
import torch

from epinet_al.acquisition.selection import rank_candidates
from epinet_al.acquisition.specs import SELECTIONS

STOCHASTIC = ["softmax", "power", "softrank"]


def is_permutation(order: torch.Tensor, size: int) -> bool:
    return order.dtype == torch.long and torch.equal(order.sort().values, torch.arange(size))


def test_modes():
    assert set(SELECTIONS) == {"topk", *STOCHASTIC}


def test_topk_is_descending_and_stable_on_ties():
    scores = torch.tensor([1.0, 3.0, 3.0, 2.0, 3.0, 1.0])
    order = rank_candidates(scores, "topk")
    # Ties keep candidate order: 1, 2, 4 (all 3.0), then 3, then 0, 5 (both 1.0).
    assert order.tolist() == [1, 2, 4, 3, 0, 5]
    assert is_permutation(order, 6)


def test_topk_all_tied_keeps_candidate_order():
    assert rank_candidates(torch.zeros(50)).tolist() == list(range(50))


@pytest.mark.parametrize("mode", STOCHASTIC)
def test_stochastic_modes_are_seeded_permutations(mode):
    scores = torch.rand(30, generator=torch.Generator().manual_seed(0))
    first = rank_candidates(scores, mode, 1.0, torch.Generator().manual_seed(3))
    again = rank_candidates(scores, mode, 1.0, torch.Generator().manual_seed(3))
    other = rank_candidates(scores, mode, 1.0, torch.Generator().manual_seed(4))
    assert is_permutation(first, 30)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("mode", STOCHASTIC)
def test_zero_temperature_limit_is_topk(mode):
    # Distinct positive scores (power takes their log).
    scores = torch.rand(40, generator=torch.Generator().manual_seed(1)) + 0.1
    topk = rank_candidates(scores, "topk")
    for seed in range(5):
        order = rank_candidates(scores, mode, 1e-6, torch.Generator().manual_seed(seed))
        assert torch.equal(order, topk)


# First-pick probabilities at temperature 1 for the scores below (Gumbel-top-k: the first element
# of the sampled order is a draw from the selection distribution).
SCORES = torch.tensor([2.0, 4.0, 1.0, 3.0, 0.5])
FIRST_PICK = {
    "softmax": SCORES.exp() / SCORES.exp().sum(),
    "power": SCORES / SCORES.sum(),
    # ranks (1 = highest): 3, 1, 4, 2, 5
    "softrank": (1 / torch.tensor([3.0, 1.0, 4.0, 2.0, 5.0])) / (1 / torch.arange(1.0, 6.0)).sum(),
}


@pytest.mark.parametrize("mode", STOCHASTIC)
def test_stochastic_modes_spread_picks(mode):
    generator = torch.Generator().manual_seed(0)
    draws = 2000
    firsts = torch.stack([rank_candidates(SCORES, mode, 1.0, generator)[0] for _ in range(draws)])
    frequency = torch.bincount(firsts, minlength=5).double() / draws
    # The best candidate is the most frequent first pick, but far from always first.
    assert frequency.argmax().item() == 1
    assert frequency[1] < 0.9
    assert (frequency > 0).sum() >= 4
    assert torch.allclose(frequency, FIRST_PICK[mode].double(), atol=0.04), (frequency, FIRST_PICK[mode])


def test_power_refuses_negative_scores():
    with pytest.raises(ValueError, match="non-negative"):
        rank_candidates(torch.tensor([0.5, -0.1, 0.2]), "power", 1.0, torch.Generator().manual_seed(0))


def test_power_accepts_zero_scores_and_ranks_them_last():
    # Zero weight: a zero-score candidate comes after every positive one.
    scores = torch.tensor([0.0, 0.3, 0.0, 0.7])
    for seed in range(10):
        order = rank_candidates(scores, "power", 1.0, torch.Generator().manual_seed(seed))
        assert set(order[:2].tolist()) == {1, 3}


def test_unknown_mode_lists_valid_ones():
    with pytest.raises(ValueError, match="nope") as info:
        rank_candidates(torch.zeros(3), "nope")
    for mode in SELECTIONS:
        assert mode in str(info.value)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_non_positive_temperature_raises(temperature):
    with pytest.raises(ValueError, match="temperature"):
        rank_candidates(torch.zeros(3), "softmax", temperature, torch.Generator().manual_seed(0))


def test_scores_must_be_one_dimensional():
    with pytest.raises(ValueError, match=r"\[B\]"):
        rank_candidates(torch.zeros(2, 3))
