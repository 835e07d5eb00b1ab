"""A run folder seen from the command line: who may write it, whether it is finished, what failed there.

A run holds an exclusive lock on ``<folder>/.lock`` while it writes, so a second command aimed at
the same folder (the same ``hydra.run.dir``, two sweeps into one ``hydra.sweep.dir``) stops at once
instead of mixing two runs' files. ``fcntl.flock`` locks are released by the kernel when the process
dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from epinet_al.tracking.recorder import SUMMARY_FILE

LOCK_FILE = ".lock"
# The saved state of a run that has not finished (epinet_al.active_learning.checkpoint writes it).
STATE_FILE = "state.pt"
# A failed sweep job's one-line reason, then the traceback; removed when the job runs again.
ERROR_FILE = "error.txt"


# Config keys that may change between a run and its resumption: they do not change its numbers.
RESUMABLE_CHANGES = ("progress_bar", "logger", "resume")


def config_differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved configs (ignoring RESUMABLE_CHANGES)."""
    keys = [k for k in dict.fromkeys([*saved, *current]) if not (not prefix and k in RESUMABLE_CHANGES)]
    differences = []
    for key in keys:
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            differences += config_differences(a, b, f"{prefix}{key}.")
        elif a != b and not _same_float(a, b):
            differences.append(f"{prefix}{key} ({a!r} saved, {b!r} now)")
    return differences


def _same_float(a: Any, b: Any) -> bool:
    """Floats equal up to round-off: a run saved with 0.3 / 0.1 = 2.9999999999999996 is the run of `=3`."""
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b)):
        return False
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


class FolderBusy(Exception):
    """Another process holds the folder's lock."""


def lock(folder: Path, holder: str) -> int:
    """Take ``folder``'s lock (creating the folder); the file descriptor that holds it (``unlock`` it).

    ``holder`` says who writes the folder (a command line, a sweep job); it is written into the lock file
    with the process id, host and time, so that a command that finds the folder busy can name its writer.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderBusy(
            f"another epinet-al command is writing {folder} ({lock_holder(folder)}); wait for it or use another folder"
        ) from None
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}: {holder}\n".encode(), 0)
    return fd


def lock_holder(folder: Path) -> str:
    """Who holds ``folder``'s lock, as its lock file says."""
    try:
        return (folder / LOCK_FILE).read_text().strip() or "no record of who"
    except OSError:
        return "no record of who"


def is_locked(folder: Path) -> bool:
    """Whether another process holds ``folder``'s lock now (creates nothing)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock if this call took it
    return False


def unlock(fd: int) -> None:
    os.close(fd)  # closing the descriptor releases the flock


def finished_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of a finished run in ``folder`` (summary.json is written last), else None."""
    try:
        return json.loads((folder / SUMMARY_FILE).read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as error:  # ValueError: a truncated or foreign file
        raise ValueError(f"{folder / SUMMARY_FILE} cannot be read ({error}); remove it to run again") from None


def check_finished(folder: Path, config: dict[str, Any], resume: bool = False) -> dict[str, Any] | None:
    """The summary of the finished run in ``folder`` (None if there is none); a ValueError if that run had
    another config: a folder is finished only for the config it ran with."""
    summary = finished_summary(folder)
    differences = config_differences(summary.get("config", {}), config) if summary is not None else []
    if differences and resume:
        raise ValueError(f"cannot resume {folder}: its config differs in {'; '.join(differences[:5])}")
    if differences:
        raise ValueError(
            f"{folder} holds a finished run with another config: it differs in {'; '.join(differences[:5])}; "
            "choose another folder"
        )
    return summary


def record_subdir(_root_: Any) -> str | None:
    """``hydra.output_subdir``, where Hydra writes its record of a job (``.hydra/``): nowhere in a folder that
    holds a finished run, whose record stays the one it ran with. A relaunched sweep enters every job's folder
    again, and Hydra writes the record before any callback could tell a finished job apart.

    Resolved with the job's config as ``_root_``; before Hydra has set the job's folder, ``.hydra``."""
    folder = OmegaConf.select(_root_, "hydra.runtime.output_dir", default=None, throw_on_missing=False)
    return None if folder is not None and is_finished(Path(str(folder))) else ".hydra"


def is_finished(folder: Path) -> bool:
    try:
        return finished_summary(folder) is not None
    except ValueError:
        return False  # a summary.json cut short: the job runs again


def result_line(summary: dict[str, Any]) -> str:
    """A finished run in one line: the primary metric's final value and AUC, and the labels used."""
    name = summary["metric"]["name"]
    final = summary["final"]
    auc = summary.get("auc", {}).get(name)
    auc_text = f", AUC {auc:.4g}" if auc is not None else ""
    return f"{name} {final[name]:.4g}{auc_text} at {int(final['num_labels'])} labels"


def write_error(folder: Path, reason: str, error: BaseException) -> None:
    """error.txt: the one-line reason, then the traceback (best effort: the folder may be the problem)."""
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    with contextlib.suppress(OSError):
        (folder / ERROR_FILE).write_text(f"{reason}\n\n{''.join(lines)}")


def error_reason(folder: Path) -> str | None:
    """The first line of a failed job's error.txt, None if it has none."""
    try:
        return (folder / ERROR_FILE).read_text().split("\n", 1)[0]
    except OSError:
        return None


class CreatedFiles:
    """What a command adds to a run folder before the run's first result, so that an early failure
    can take it back: the folder itself if it is new, else only the bookkeeping files it added. A
    folder that existed before (the working directory with `hydra.run.dir=.`, a resumed run) stays."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.before = {path.name for path in folder.iterdir()} if folder.is_dir() else None

    def remove_if_no_results(self, bookkeeping: set[str]) -> None:
        """Remove what was added, unless it includes a result (a file or folder not in ``bookkeeping``)."""
        if not self.folder.is_dir():
            return
        added = [path for path in self.folder.iterdir() if self.before is None or path.name not in self.before]
        if any(path.name not in bookkeeping for path in added):
            return  # curve.csv or state.pt: kept for a resume
        for path in added:
            if path.is_dir() and not path.is_symlink():
                for child in sorted(path.rglob("*"), reverse=True):
                    child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        if self.before is None:
            self.folder.rmdir()
