"""Active learning: the label ledger, the agent (score, train, evaluate), and the protocols that drive it.

The names below are imported on first use: ``epinet_al.active_learning.specs`` (the protocol options)
stays importable without torch.
"""

from epinet_al.registry import lazy_exports

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

__getattr__ = lazy_exports(__name__, _EXPORTS)
