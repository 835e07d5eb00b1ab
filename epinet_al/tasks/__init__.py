"""Tasks: what the acquisition loop learns on (pool, hidden labels, evaluator), built from config.

The names below are imported on first use: ``epinet_al.tasks.specs`` (the options) stays importable
without torch.
"""

import importlib
from typing import Any

_EXPORTS = {"ActiveLearningTask": "task", "Evaluator": "task", "TASKS": "specs", "build_task": "build"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
