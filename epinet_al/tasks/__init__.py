"""Tasks: what the acquisition loop learns on (pool, hidden labels, evaluator), built from config.

The names below are imported on first use: ``epinet_al.tasks.specs`` (the options) stays importable
without torch.
"""

from epinet_al.registry import lazy_exports

_EXPORTS = {"ActiveLearningTask": "task", "Evaluator": "task", "TASKS": "specs", "build_task": "build"}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
