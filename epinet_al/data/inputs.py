"""Pool inputs that the acquisition loop can index without knowing what they are."""

from __future__ import annotations

import copy
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


class SequenceInputs:
    """N sequences of different lengths stored end to end; ``take`` pads a batch only to its own longest.

    A split of any size is a few flat tensors: ``fields`` maps each model input name to its values at the
    T positions of all sequences end to end ([T] token ids, [T, H] hidden states), and ``offsets`` [N + 1]
    (int64) delimits them: sequence i is positions offsets[i] : offsets[i + 1]. ``pads`` gives the value
    that fills each field's padding positions. A batch is the fields padded to [B, L, ...] (integer fields
    as int64) plus ``attention_mask`` [B, L], L the batch's longest sequence (dynamic padding).
    """

    def __init__(self, fields: dict[str, torch.Tensor], offsets: torch.Tensor, pads: dict[str, float]):
        total = next(iter(fields.values())).shape[0]
        if offsets.ndim != 1 or offsets[0] != 0 or offsets[-1] != total:
            raise ValueError(f"offsets must run from 0 to the {total} positions, got shape {tuple(offsets.shape)}")
        self.fields = fields
        self.offsets = offsets
        self.pads = pads

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    @property
    def lengths(self) -> torch.Tensor:
        """[N] positions (tokens) per sequence."""
        return self.offsets[1:] - self.offsets[:-1]

    def take(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each field padded to [B, L, ...] and attention_mask [B, L] (int64), L the batch's longest."""
        starts, lengths = self.offsets[indices], self.lengths[indices]
        positions = torch.arange(int(lengths.max()) if lengths.numel() else 0)
        mask = positions < lengths.unsqueeze(1)  # [B, L]
        total = int(self.offsets[-1])
        flat = (starts.unsqueeze(1) + positions).clamp(max=max(total - 1, 0))
        batch = {}
        for name, values in self.fields.items():
            gathered = values[flat] if values.is_floating_point() else values[flat].long()  # [B, L, ...]
            keep = mask.view(*mask.shape, *[1] * (values.ndim - 1))
            batch[name] = torch.where(keep, gathered, self.pads[name])
        return {**batch, "attention_mask": mask.long()}

    def subset(self, rows: torch.Tensor) -> SequenceInputs:
        """The sequences ``rows`` [R], in that order, as inputs of their own (of the same class)."""
        lengths = self.lengths[rows]
        offsets = torch.zeros(rows.shape[0] + 1, dtype=torch.long)
        offsets[1:] = lengths.cumsum(0)
        # Position t of the subset is position (t - offsets[r]) of sequence rows[r].
        owner = torch.repeat_interleave(torch.arange(rows.shape[0]), lengths)
        source = self.offsets[rows][owner] + torch.arange(int(offsets[-1])) - offsets[:-1][owner]
        subset = copy.copy(self)
        subset.fields = {name: values[source] for name, values in self.fields.items()}
        subset.offsets = offsets
        return subset

    def length_batches(self, batch_size: int) -> list[torch.Tensor]:
        """All indices in batches of similar lengths (sorted, longest first): little padding at inference."""
        return list(torch.sort(self.lengths, descending=True, stable=True).indices.split(batch_size))


def length_buckets(mask: torch.Tensor, max_padding: float) -> list[torch.Tensor]:
    """The rows of a padded batch (``mask`` [B, L], 1 = a real token) in groups of similar lengths.

    Rows are sorted by length, longest first, and a group grows while, padded to its longest member, it
    holds at most (1 + ``max_padding``) positions per real token: each group run on its own computes little
    padding, where one random batch of short sentences pads to several times its real tokens
    (docs/benchmarks.md, "Fine-tuning modes").
    """
    lengths = mask.sum(1)
    order = torch.sort(lengths, descending=True, stable=True).indices
    sizes, count, real, longest = [], 0, 0, 0
    for length in lengths[order].tolist():
        if count and (count + 1) * longest > (1 + max_padding) * (real + length):
            sizes.append(count)
            count, real = 0, 0
        if not count:
            longest = length
        count, real = count + 1, real + length
    sizes.append(count)
    return list(order.split(sizes))


def trim_rows(batch: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """The rows ``rows`` of a padded batch (every value [B, L, ...]), cut to their own longest sequence."""
    longest = int(batch["attention_mask"][rows].sum(1).max())
    return {name: values[rows, :longest] for name, values in batch.items()}
