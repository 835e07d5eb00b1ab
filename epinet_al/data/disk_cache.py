"""The on-disk cache of tokenized splits and frozen encoder features.

A cached file's name ends with a hash of everything its content depends on (tokenizer, encoder
weights, texts, max length, pooling), so a changed setting finds no file and computes a new one,
and a stale file is never read. Old files are never deleted: remove the folder to reclaim the space.
Writes are atomic (a crashed run leaves no half-written file behind).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from epinet_al.io import atomic_write


def cache_file(cache_dir: str | Path, kind: str, name: str, key: dict[str, Any]) -> Path:
    """``<cache_dir>/<kind>/<name>-<hash of key>.pt``: ``name`` is for people, the hash for correctness."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / kind / f"{name}-{digest}.pt"


def save_tensors(path: Path, tensors: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: torch.save(tensors, handle), mode="wb")


def load_tensors(path: Path) -> dict[str, Any]:
    return torch.load(path, weights_only=True)
