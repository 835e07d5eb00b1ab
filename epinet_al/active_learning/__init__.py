"""Active learning: the label ledger, the shared score/train/evaluate steps, and the loops."""

from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.loop_setup import LoopSetup
from epinet_al.active_learning.pool import run_pool
from epinet_al.active_learning.prioritized import draw_candidates, run_prioritized

__all__ = ["LabelLedger", "LoopSetup", "draw_candidates", "run_pool", "run_prioritized"]
