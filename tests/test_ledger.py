"""The label ledger: distinct labels counted once, the budget never exceeded, labels only on request."""

from __future__ import annotations

import pytest
import torch

from epinet_al.active_learning.ledger import LabelLedger

# Pool of 10 whose label at position i is 100 + i, so a returned label names its example.
LABELS = torch.arange(100, 110)


def ledger(budget: int = 4) -> LabelLedger:
    return LabelLedger(LABELS.clone(), budget)


def test_reveal_returns_exactly_the_requested_labels():
    book = ledger()
    request = torch.tensor([7, 2, 7])
    assert book.reveal(request).tolist() == [107, 102, 107]
    assert book.num_labels == 2  # the duplicate in the request counts once
    assert book.is_labeled.nonzero().squeeze(1).tolist() == [2, 7]


def test_a_label_is_never_counted_twice():
    book = ledger()
    book.reveal(torch.tensor([3, 5]))
    book.reveal(torch.tensor([5, 3]))
    book.reveal(torch.tensor([3]))
    assert book.num_labels == 2
    assert book.remaining == 2


def test_reveal_never_exceeds_the_budget():
    book = ledger(budget=3)
    book.reveal(torch.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="budget"):
        book.reveal(torch.tensor([1, 2, 3]))  # two new labels, one left
    # The refused request revealed nothing.
    assert book.num_labels == 2
    assert book.order == [0, 1]
    assert not book.is_labeled[[2, 3]].any()
    # Already-labeled examples stay free once the budget is spent.
    book.reveal(torch.tensor([2]))
    assert book.remaining == 0
    assert book.reveal(torch.tensor([2, 0])).tolist() == [102, 100]
    with pytest.raises(RuntimeError, match="budget"):
        book.reveal(torch.tensor([9]))


def test_within_budget_keeps_labeled_free_and_caps_new_ones():
    book = ledger(budget=4)
    book.reveal(torch.tensor([2, 5]))
    ranked = torch.tensor([9, 2, 8, 5, 7, 6])
    # Two labels left: 9 and 8 are the first two new ones; 2 and 5 are free; 7 and 6 are cut.
    assert book.within_budget(ranked).tolist() == [9, 2, 8, 5]
    book.reveal(torch.tensor([9, 8]))
    assert book.within_budget(ranked).tolist() == [9, 2, 8, 5]
    assert book.within_budget(torch.tensor([1, 0, 3])).tolist() == []
    # within_budget only filters: it reveals nothing.
    assert book.num_labels == 4


def test_order_records_first_reveals():
    book = ledger(budget=5)
    book.reveal(torch.tensor([5, 2]))
    book.reveal(torch.tensor([2, 7, 5, 1]))
    assert book.order == [5, 2, 7, 1]
    assert book.labeled_indices().tolist() == [5, 2, 7, 1]
    assert book.labeled_indices().dtype == torch.long


def test_state_dict_round_trip():
    book = ledger(budget=5)
    book.reveal(torch.tensor([4, 0, 8]))
    state = book.state_dict()
    book.reveal(torch.tensor([1]))  # the saved state is a copy
    restored = ledger(budget=5)
    restored.load_state_dict(state)
    assert restored.order == [4, 0, 8]
    assert restored.num_labels == 3
    assert restored.is_labeled.nonzero().squeeze(1).tolist() == [0, 4, 8]
    assert restored.remaining == 2
    with pytest.raises(ValueError, match="budget"):
        ledger(budget=4).load_state_dict(state)


@pytest.mark.parametrize("budget", [0, -1, 11])
def test_invalid_budget_raises(budget):
    with pytest.raises(ValueError, match=str(budget)):
        ledger(budget=budget)


def test_budget_equal_to_pool_is_allowed():
    book = ledger(budget=10)
    book.reveal(torch.arange(10))
    assert book.remaining == 0
