"""A run's results on disk: curve.csv, written at every evaluation point, and summary.json at the end."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from epinet_al.io import atomic_write, atomic_write_text

CURVE_FILE = "curve.csv"
SUMMARY_FILE = "summary.json"

log = logging.getLogger(__name__)


class Tracker(Protocol):
    """An experiment tracker (W&B) fed with the same rows as curve.csv."""

    def log(self, row: dict[str, float]) -> None: ...

    def finish(self, summary: dict[str, Any], rows: list[dict[str, float]]) -> None: ...


class CurveRecorder:
    """Keeps the curve rows and rewrites curve.csv atomically after each one.

    Columns: ``step``, ``num_labels`` (distinct labels used so far), then one ``split/metric``
    column per metric in order of first appearance.

    A failed write (a full disk, a lost mount) does not stop the run: the row stays in ``rows``
    (which state.pt saves too) and the next write, at the next evaluation point or ``flush`` at the
    end, writes the whole curve; until then curve.csv keeps its last complete version.
    """

    def __init__(self, output_dir: Path, trackers: Sequence[Tracker] | None = None, rows: list[dict] | None = None):
        self.path = Path(output_dir) / CURVE_FILE
        self.trackers = list(trackers or [])
        self.rows: list[dict[str, float]] = list(rows or [])

    def __call__(self, step: int, num_labels: int, metrics: dict[str, float]) -> None:
        row = {"step": step, "num_labels": num_labels, **metrics}
        self.rows.append(row)
        try:
            self._write()
        except OSError as error:
            log.warning("could not write %s (%s); it is written again at the next evaluation point", self.path, error)
        for tracker in self.trackers:
            tracker.log(row)

    def _write(self) -> None:
        columns = list(dict.fromkeys(key for row in self.rows for key in row))

        def write(handle) -> None:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)

        atomic_write(self.path, write)

    def flush(self) -> None:
        """Write the whole curve; at the end of a run, where a failure must stop the run before its summary."""
        try:
            self._write()
        except OSError as error:
            raise OSError(
                f"could not write {self.path} ({error}); state.pt holds the whole curve: run again in the same "
                "folder to write it"
            ) from error


def write_summary(output_dir: Path, summary: dict[str, Any]) -> Path:
    path = Path(output_dir) / SUMMARY_FILE
    atomic_write_text(path, json.dumps(summary, indent=2, sort_keys=False, default=str) + "\n")
    return path
