"""Metrics of the marginal and joint predictive distribution."""

from epinet_al.metrics.classification import joint_nll, marginal_log_probs, marginal_metrics
from epinet_al.metrics.glue import glue_metrics

__all__ = ["joint_nll", "marginal_log_probs", "marginal_metrics", "glue_metrics"]
