"""Metrics of the marginal and joint predictive distribution, from model outputs [A, N, C].

The uncertainty diagnostics live in ``epinet_al.metrics.uncertainty`` (not re-exported here: they
read the acquisition priorities, which import ``marginal_log_probs`` from this package).
"""

from epinet_al.metrics.classification import dyadic_batches, joint_nll, marginal_log_probs, marginal_metrics
from epinet_al.metrics.glue import glue_metrics
from epinet_al.metrics.predict import predict_outputs

__all__ = ["dyadic_batches", "glue_metrics", "joint_nll", "marginal_log_probs", "marginal_metrics", "predict_outputs"]
