"""Active learning: the label ledger, the shared score/train/evaluate steps, and the loops."""

from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.prioritized import draw_candidates, run_prioritized

__all__ = ["LabelLedger", "draw_candidates", "run_prioritized"]
