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

if os.environ.get("EPINET_AL_HOLD"):
    from epinet_al.active_learning.agent import Agent

    _hold = Path(os.environ["EPINET_AL_HOLD"])
    _step = int(os.environ["EPINET_AL_HOLD_STEP"])

    def _hold_at(step: int) -> None:
        if step == _step and _hold.exists():
            Path(f"{_hold}.held").write_text(f"{os.getpid()} {os.environ.get('SLURM_JOB_ID', '')}")
            while _hold.exists():
                time.sleep(0.1)

    Agent.before_train_step.append(_hold_at)
