"""Acquisition: which candidates to label, in modules imported by name (this package imports nothing, so that
``specs`` stays importable without torch):

- ``specs``: the priorities (``PRIORITY_SPECS``: name, function, capabilities) and ``AcquisitionConfig`` (torch-free);
- ``priorities``: the priority functions and ``get_priority``; ``epig``: the target-based priority;
- ``selection``: how scores become a batch (``rank_candidates``).
"""
