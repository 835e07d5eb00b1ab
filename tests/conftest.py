"""Suite-wide test settings.

One torch intra-op thread: the tests run tiny models, which gain nothing from intra-op threads, and
on a busy 2-core machine every parallel region waits for the second core (a 30-step testbed run
measured 3.4 s of CPU with 2 threads and 0.1 s with one, under load). Subprocesses inherit it
through OMP_NUM_THREADS. Results stay deterministic for a fixed thread count. W&B is disabled
unless a test turns it on for itself.

No test reaches the network: pytest-socket (addopts in pyproject.toml) lets sockets connect to
loopback and Unix sockets only (W&B offline talks to its local service), and the Hugging Face
libraries are told they are offline, so a missing cache fails at once instead of downloading.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_name] = "1"


@pytest.fixture(scope="session", autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_prioritized_run(tmp_path_factory, single_thread) -> Path:
    """One finished run of the tiny prioritized config, to compare against: tests must not change it."""
    from epinet_al.experiment import run_experiment
    from tests.tiny_configs import TINY_PRIORITIZED, experiment_config

    folder = tmp_path_factory.mktemp("tiny_prioritized_run")
    run_experiment(experiment_config(TINY_PRIORITIZED), folder)
    return folder
