"""Acquisition: priority functions (scores per candidate) and selection rules.

The names below are imported on first use: ``epinet_al.acquisition.specs`` (the options and their
capabilities) stays importable without torch.
"""

import importlib
import sys
from typing import Any

_EXPORTS = {
    "EPISTEMIC_PRIORITIES": "specs",
    "PRIORITY_SPECS": "specs",
    "SELECTIONS": "specs",
    "TARGET_PRIORITIES": "specs",
    "PRIORITIES": "priorities",
    "REGRESSION_PRIORITIES": "priorities",
    "Priority": "priorities",
    "get_priority": "priorities",
    "epig": "epig",
    "rank_candidates": "selection",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    # Importing the submodule epig binds the module to the package's name epig; the name means the function.
    if f"{__name__}.epig" in sys.modules:
        globals()["epig"] = sys.modules[f"{__name__}.epig"].epig
    return value
