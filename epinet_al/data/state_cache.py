"""Partial fine-tuning's inputs: the hidden states of the layer below the trainable ones, cached on disk.

With ``model.finetune=top`` the lower layers never change, so each example runs through them once and
their output (the hidden states of the last frozen layer, at the example's real length, float32 as the
encoder computed them) is the input of the trainable top layers in every run that follows. One file per
(split, encoder, cached layer, tokens) holds the states of the examples computed so far: ``rows`` [R]
(each one's row in the split), ``offsets`` [R + 1] and ``states`` [T, H] end to end. A run that needs
other rows of the split (``task.max_pool_size``) computes only those and adds them to the file.

The file is read mapped from disk (the page cache, shared by the processes of one machine) and extended
under its lock (``disk_cache.exclusive``), held while encoding: a second run that needs the same split
waits for the first, then reads what it wrote. The file is saved every ``SAVE_EVERY_S`` seconds of
encoding, so an interrupted encoding keeps what it finished and a rerun computes only the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from epinet_al.data.disk_cache import exclusive, load_tensors, save_tensors
from epinet_al.data.inputs import SequenceInputs
from epinet_al.data.text_inputs import TokenizedInputs

log = logging.getLogger(__name__)

# Token batch -> hidden states [B, L, H] on the CPU, computed under inference mode.
Encode = Callable[[dict[str, torch.Tensor]], torch.Tensor]

# Seconds of encoding between two saves. Each save rewrites the whole file, so a save per few thousand
# rows would write a large split's file dozens of times over; a few minutes of work is what an
# interruption may cost.
SAVE_EVERY_S = 300.0
FIELD = "inputs_embeds"  # the top layers' input: the model input name of the states


def cached_states(
    path: Path,
    tokens: TokenizedInputs,
    row_sets: list[torch.Tensor],
    encode: Encode,
    batch_size: int,
    name: str,
) -> list[SequenceInputs]:
    """The hidden states of each set of rows [R] of ``tokens``, as inputs whose batches are
    ``inputs_embeds`` [B, L, H] and ``attention_mask`` [B, L]; the rows still missing are encoded and saved.

    Missing rows are encoded in batches of similar lengths (little padding), ``batch_size`` at a time;
    ``name`` (the split and the layers, as ``sst2-train, minilm layers 1-4``) labels the log and the progress bar.
    """
    with exclusive(path):
        stored = load_tensors(path, mmap=True) if path.is_file() else None
        rows = torch.cat(row_sets)
        missing = rows[_positions(stored, len(tokens))[rows] < 0].unique()
        if missing.numel():
            log.info("encoding %d examples of %s into %s", missing.numel(), name, path)
            stored = _encode(path, stored, tokens, missing, encode, batch_size, name)
        else:
            log.info("reusing the cached hidden states of %s (%d examples) in %s", name, rows.numel(), path)
    assert stored is not None  # every row was stored or has just been encoded
    inputs = SequenceInputs({FIELD: stored["states"]}, stored["offsets"], {FIELD: 0.0})
    positions = _positions(stored, len(tokens))
    return [inputs.subset(positions[rows]) for rows in row_sets]


def _positions(stored: dict[str, Any] | None, num: int) -> torch.Tensor:
    """[num]: where each row of the split is in the file, -1 where it is not."""
    positions = torch.full((num,), -1, dtype=torch.long)
    if stored is not None:
        positions[stored["rows"]] = torch.arange(stored["rows"].shape[0])
    return positions


def _encode(
    path: Path,
    stored: dict[str, Any] | None,
    tokens: TokenizedInputs,
    missing: torch.Tensor,
    encode: Encode,
    batch_size: int,
    name: str,
) -> dict[str, Any]:
    """Encode the rows ``missing`` [M] and add them to the file; returns its new content."""
    subset = tokens.subset(missing)
    chunks: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # rows [b], lengths [b], states [t, H]
    saved = time.monotonic()
    with tqdm(total=missing.numel(), desc=f"encoding {name}", unit="ex", leave=False, disable=None) as bar:
        for batch in subset.length_batches(batch_size):
            token_batch = subset.take(batch)
            real = token_batch["attention_mask"].bool()  # [b, L]
            chunks.append((missing[batch], real.sum(1), encode(token_batch)[real]))  # states at real positions
            bar.update(batch.numel())
            if time.monotonic() - saved >= SAVE_EVERY_S:
                stored, chunks, saved = _append(path, stored, chunks), [], time.monotonic()
    return _append(path, stored, chunks)


def _append(path: Path, stored: dict[str, Any] | None, chunks: Sequence[tuple[torch.Tensor, ...]]) -> dict[str, Any]:
    """The file's content with the encoded ``chunks`` added, saved."""
    rows, lengths, states = ([part[i] for part in chunks] for i in range(3))
    if stored is not None:
        rows.insert(0, stored["rows"])
        lengths.insert(0, stored["offsets"][1:] - stored["offsets"][:-1])
        states.insert(0, stored["states"])
    all_lengths = torch.cat(lengths)
    offsets = torch.zeros(all_lengths.shape[0] + 1, dtype=torch.long)
    offsets[1:] = all_lengths.cumsum(0)
    content = {"rows": torch.cat(rows), "offsets": offsets, "states": torch.cat(states)}
    save_tensors(path, content)
    return content
