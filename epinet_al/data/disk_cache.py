"""The on-disk cache of tokenized splits, frozen encoder features and the hidden states of lower layers.

A cached file's name ends with a hash of everything its content depends on (tokenizer, encoder
weights, texts, max length, pooling, layer), so a changed setting finds no file and computes a new one,
and a stale file is never read. Old files are never deleted: remove the folder to reclaim the space.
Writes are atomic (a crashed run leaves no half-written file behind).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from epinet_al.io import atomic_write

log = logging.getLogger(__name__)


def cache_file(cache_dir: str | Path, kind: str, name: str, key: dict[str, Any]) -> Path:
    """``<cache_dir>/<kind>/<name>-<hash of key>.pt``: ``name`` is for people, the hash for correctness."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / kind / f"{name}-{digest}.pt"


def save_tensors(path: Path, tensors: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: torch.save(tensors, handle), mode="wb")


def load_tensors(path: Path, mmap: bool = False) -> dict[str, Any]:
    """The tensors saved at ``path``; ``mmap``: mapped from the file, read from disk (the page cache) as used."""
    return torch.load(path, weights_only=True, mmap=mmap)


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock (``<path>.lock``, an flock) while a process reads, computes and extends the file.

    A second process that needs the same file waits here (one log line says so) and then finds what the
    first one wrote: no example is encoded twice on one machine. The kernel releases the lock when its
    process dies.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process that writes %s", path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
