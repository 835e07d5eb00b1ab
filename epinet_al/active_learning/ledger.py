"""The label ledger: the only holder of the pool's labels, revealing them one example at a time."""

from __future__ import annotations

import torch


class LabelLedger:
    """Reveals pool labels on request and counts the distinct labels used against a budget.

    The loop never reads the pool's labels directly: it asks the ledger for the labels of the
    examples it selected, so a label can only be seen after its example was chosen.
    """

    def __init__(self, labels: torch.Tensor, budget: int):
        if budget <= 0:
            raise ValueError(f"label budget must be positive, got {budget}")
        if budget > labels.shape[0]:
            raise ValueError(f"label budget {budget} is larger than the pool ({labels.shape[0]} examples)")
        self._labels = labels
        self.budget = budget
        self.is_labeled = torch.zeros(labels.shape[0], dtype=torch.bool)
        self.order: list[int] = []  # pool indices in the order their labels were first revealed

    @property
    def num_labels(self) -> int:
        """Distinct examples whose label has been revealed."""
        return len(self.order)

    @property
    def remaining(self) -> int:
        return self.budget - self.num_labels

    def labeled_indices(self) -> torch.Tensor:
        return torch.tensor(self.order, dtype=torch.long)

    def within_budget(self, ranked: torch.Tensor) -> torch.Tensor:
        """The ranked pool indices the budget allows, in rank order.

        Already-labeled examples are free; unlabeled ones are kept while budget remains.
        """
        is_new = ~self.is_labeled[ranked]
        affordable = torch.cumsum(is_new.long(), 0) <= self.remaining
        return ranked[~is_new | affordable]

    def reveal(self, indices: torch.Tensor) -> torch.Tensor:
        """The labels of ``indices`` (pool positions); new ones are counted against the budget."""
        new = list(dict.fromkeys(i for i in indices.tolist() if not self.is_labeled[i]))  # request order
        if len(new) > self.remaining:
            raise RuntimeError(f"revealing {len(new)} new labels would exceed the budget ({self.remaining} left)")
        self.is_labeled[new] = True
        self.order.extend(new)
        return self._labels[indices]

    def state_dict(self) -> dict:
        return {"budget": self.budget, "order": list(self.order)}

    def load_state_dict(self, state: dict) -> None:
        if state["budget"] != self.budget:
            raise ValueError(f"saved ledger has budget {state['budget']}, this run {self.budget}")
        self.order = list(state["order"])
        self.is_labeled.zero_()
        self.is_labeled[self.order] = True
