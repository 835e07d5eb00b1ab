"""The model outputs that every evaluation metric reads: one forward pass over a held-out set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from epinet_al.data.inputs import Inputs


def predict_outputs(
    predict: Callable[[Any], torch.Tensor], inputs: Inputs, batches: list[torch.Tensor]
) -> torch.Tensor:
    """Outputs [A, N, C] of ``predict`` (model batch -> [A, B, C]) on all N ``inputs``, in input order.

    ``batches`` are index tensors that together hold each of 0..N-1 once, in any order (GLUE groups
    token inputs by length); the outputs are put back in input order, so they line up with the labels.
    """
    order = torch.cat(batches)
    if order.shape[0] != len(inputs) or not torch.equal(order.sort().values, torch.arange(len(inputs))):
        raise ValueError(f"the evaluation batches must hold each of the {len(inputs)} inputs exactly once")
    outputs = torch.cat([predict(inputs.take(batch)) for batch in batches], dim=1)
    in_order = torch.empty_like(outputs)
    in_order[:, order] = outputs
    return in_order
