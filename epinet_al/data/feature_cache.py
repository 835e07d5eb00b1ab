"""Frozen-encoder features of a split, computed once and kept on disk.

One file per (encoder, pooling, tokens) holds the features [N, F] of a whole split and a mask of the
rows computed so far: a run that needs only a random subset of a large split (task.max_pool_size)
computes those rows, and a later run with another subset computes only the rows still missing.
The file is also saved every ``SAVE_EVERY`` encoded rows, so an interrupted encoding (Ctrl-C, a killed
job) keeps what it finished and a rerun computes only the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from epinet_al.data.disk_cache import load_tensors, save_tensors
from epinet_al.data.text_inputs import TokenizedInputs

log = logging.getLogger(__name__)

# Token batch -> features [B, F] on the CPU, computed under inference mode.
Encode = Callable[[dict[str, torch.Tensor]], torch.Tensor]

# Rows encoded between two saves: a few minutes of a CPU at most, and a save (the whole [N, F] file)
# costs far less than encoding them.
SAVE_EVERY = 2_000


def cached_features(
    path: Path, tokens: TokenizedInputs, rows: torch.Tensor, encode: Encode, batch_size: int, name: str
) -> torch.Tensor:
    """Features [R, F] of the examples ``rows`` [R] of ``tokens``, computing and saving the missing ones.

    Missing rows are encoded in batches of similar lengths (little padding), ``batch_size`` at a time;
    ``name`` (the split, as ``rte-train``) labels the log line and the progress bar.
    """
    if path.is_file():
        state = load_tensors(path)
    else:
        state = {"features": None, "done": torch.zeros(len(tokens), dtype=torch.bool)}
    missing = rows[~state["done"][rows]].unique()
    if missing.numel():
        log.info("encoding %d examples of %s", missing.numel(), name)
        subset = tokens.subset(missing)
        unsaved = 0
        with tqdm(total=missing.numel(), desc=f"encoding {name}", unit="ex", leave=False, disable=None) as bar:
            for batch in subset.length_batches(batch_size):
                features = encode(subset.take(batch)).float()
                if state["features"] is None:
                    state["features"] = torch.zeros(len(tokens), features.shape[-1])
                state["features"][missing[batch]] = features
                state["done"][missing[batch]] = True
                unsaved += batch.numel()
                bar.update(batch.numel())
                if unsaved >= SAVE_EVERY:
                    save_tensors(path, state)
                    unsaved = 0
        if unsaved:
            save_tensors(path, state)
    if torch.equal(rows, torch.arange(len(tokens))):  # the whole split (the default): no copy of [N, F]
        return state["features"]
    return state["features"][rows]
