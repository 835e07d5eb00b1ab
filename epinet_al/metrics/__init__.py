"""Metrics of the marginal and joint predictive distribution, from model outputs [A, N, C].

The marginal itself is ``epinet_al.predictive.marginal_log_probs``; the uncertainty diagnostics, which also
read the acquisition priorities, are ``epinet_al.uncertainty``.
"""

from epinet_al.metrics.classification import dyadic_batches, joint_nll, marginal_metrics
from epinet_al.metrics.glue import glue_metrics
from epinet_al.metrics.predict import predict_outputs

__all__ = ["dyadic_batches", "glue_metrics", "joint_nll", "marginal_metrics", "predict_outputs"]
