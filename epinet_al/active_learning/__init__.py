"""Active learning: the label ledger, the agent (score, train, evaluate), and the protocols that drive it.

The names below are imported on first use: ``epinet_al.active_learning.specs`` (the protocol options)
stays importable without torch.
"""

import importlib
from typing import Any

_EXPORTS = {
    "Agent": "agent",
    "LabelLedger": "ledger",
    "Loop": "loop",
    "PROTOCOLS": "specs",
    "run_pool": "pool",
    "run_prioritized": "prioritized",
    "run_subset": "subset",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
