"""Acquisition: priority functions (scores per candidate) and selection rules."""

from epinet_al.acquisition.epig import epig
from epinet_al.acquisition.priorities import (
    EPISTEMIC_PRIORITIES,
    PRIORITIES,
    REGRESSION_PRIORITIES,
    TARGET_PRIORITIES,
    Priority,
    get_priority,
)
from epinet_al.acquisition.selection import SELECTIONS, rank_candidates, select_top

__all__ = [
    "EPISTEMIC_PRIORITIES",
    "PRIORITIES",
    "REGRESSION_PRIORITIES",
    "SELECTIONS",
    "TARGET_PRIORITIES",
    "Priority",
    "epig",
    "get_priority",
    "rank_candidates",
    "select_top",
]
