"""Acquisition: priority functions (scores per candidate) and selection rules.

The names below are imported on first use: ``epinet_al.acquisition.specs`` (the options and their
capabilities) stays importable without torch.
"""

import sys
from typing import Any

from epinet_al.registry import lazy_exports

_EXPORTS = {
    "EPISTEMIC_PRIORITIES": "specs",
    "PRIORITY_SPECS": "specs",
    "SELECTIONS": "specs",
    "TARGET_PRIORITIES": "specs",
    "Priority": "priorities",
    "get_priority": "priorities",
    "epig": "epig",
    "rank_candidates": "selection",
}
__all__ = sorted(_EXPORTS)


_lazy = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    value = _lazy(name)
    # Importing the submodule epig binds the module to the package's name epig; the name means the function.
    if f"{__name__}.epig" in sys.modules:
        globals()["epig"] = sys.modules[f"{__name__}.epig"].epig
    return value
