"""`epinet-al` that stops at a chosen point of the run and waits there, so that a test can SIGKILL it
at a known place instead of racing a run that takes a second.

    python tests/stalled_cli.py <point> <marker file> <epinet-al arguments...>

Points: ``train:<step>``: just before training step <step> (the states saved before it are on disk,
the work done since the last one is not; a Fabric callback given to the run, ``StallBeforeStep``);
``save:<n>``: inside the n-th write of state.pt, after its temporary file is written and before the
rename that replaces the previous state. On reaching the point the run creates the marker file and
sleeps; nothing else about the run changes.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import epinet_al.active_learning.checkpoint as checkpoint
from epinet_al import experiment
from epinet_al.cli import main


def _stall(marker: str) -> None:
    Path(marker).touch()
    time.sleep(3600)


class StallBeforeStep:
    """A Fabric callback (``run_experiment(callbacks=...)``): stalls just before training step ``stop``.
    A class at module level: a ``ddp_spawn`` run pickles its callbacks to every rank."""

    def __init__(self, stop: int, marker: str):
        self.stop, self.marker = stop, marker

    def on_before_train_step(self, step: int) -> None:
        if step == self.stop:
            _stall(self.marker)


def _stall_before_train_step(stop: int, marker: str) -> None:
    # The CLI's runs call experiment.run_experiment: each one gets the callback as its argument.
    experiment.run_experiment = functools.partial(experiment.run_experiment, callbacks=[StallBeforeStep(stop, marker)])


def _stall_inside_save(stop: int, marker: str) -> None:
    atomic_write, saves = checkpoint.atomic_write, []

    def stalling_write(path, write, mode="w"):
        saves.append(path)

        def write_then_stall(handle):
            write(handle)
            handle.flush()
            if len(saves) == stop:
                _stall(marker)

        atomic_write(path, write_then_stall, mode)

    checkpoint.atomic_write = stalling_write


if __name__ == "__main__":
    point, marker, *args = sys.argv[1:]
    kind, _, number = point.partition(":")
    {"train": _stall_before_train_step, "save": _stall_inside_save}[kind](int(number), marker)
    sys.argv = ["epinet-al", *args]
    main()
