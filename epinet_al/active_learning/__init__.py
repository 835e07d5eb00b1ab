"""Active learning: the label ledger, the agent (score, train, evaluate), and the protocols that drive it."""

from epinet_al.active_learning.agent import Agent
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.loop import Loop
from epinet_al.active_learning.pool import run_pool
from epinet_al.active_learning.prioritized import run_prioritized
from epinet_al.active_learning.subset import run_subset

__all__ = ["Agent", "LabelLedger", "Loop", "run_pool", "run_prioritized", "run_subset"]
