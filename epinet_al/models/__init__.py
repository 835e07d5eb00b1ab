"""Lightning modules: the ENN training module."""

from epinet_al.models.enn_module import EnnModule

__all__ = ["EnnModule"]
