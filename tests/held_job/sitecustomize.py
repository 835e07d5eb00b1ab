"""Hold a SLURM job at a training step until a test lets it go (tests/test_slurm_resume.py).

A job submitted with this folder on PYTHONPATH imports this module at start-up. While the file named
by EPINET_AL_HOLD exists, training step EPINET_AL_HOLD_STEP waits (after the states saved before it)
and writes ``<pid> <SLURM_JOB_ID>`` to ``<EPINET_AL_HOLD>.held``, so the test can requeue the job
at a known point. Processes without EPINET_AL_HOLD are untouched; nothing else about a run changes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


class HoldBeforeStep:
    """A Fabric callback (``run_experiment(callbacks=...)``): holds training step ``step`` while ``hold`` exists."""

    def __init__(self, hold: Path, step: int):
        self.hold, self.step = hold, step

    def on_before_train_step(self, step: int) -> None:
        if step == self.step and self.hold.exists():
            Path(f"{self.hold}.held").write_text(f"{os.getpid()} {os.environ.get('SLURM_JOB_ID', '')}")
            while self.hold.exists():
                time.sleep(0.1)


if os.environ.get("EPINET_AL_HOLD"):
    import functools

    from epinet_al import experiment

    # The job's runs call experiment.run_experiment: each one gets the callback as its argument.
    _hold = HoldBeforeStep(Path(os.environ["EPINET_AL_HOLD"]), int(os.environ["EPINET_AL_HOLD_STEP"]))
    experiment.run_experiment = functools.partial(experiment.run_experiment, callbacks=[_hold])
