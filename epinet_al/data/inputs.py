"""Pool inputs that the acquisition loop can index without knowing what they are."""

from __future__ import annotations

from typing import Any, Protocol

import torch


class Inputs(Protocol):
    """A sequence of model inputs; ``take`` builds the model-ready batch for some indices."""

    def __len__(self) -> int: ...

    def take(self, indices: torch.Tensor) -> Any: ...


class TensorInputs:
    """Inputs stored as one tensor [P, ...] (testbed vectors, cached encoder features)."""

    def __init__(self, data: torch.Tensor):
        self.data = data

    def __len__(self) -> int:
        return self.data.shape[0]

    def take(self, indices: torch.Tensor) -> torch.Tensor:
        return self.data[indices]
