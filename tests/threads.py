"""One intra-op thread for tests that run many tiny torch ops.

Tiny models gain nothing from intra-op threads, and on a busy 2-core machine every parallel region
waits for the second core: a 30-step testbed run measured 3.4 s of CPU with 2 threads and 0.1 s
with one, under load. Results stay deterministic for a fixed thread count.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
