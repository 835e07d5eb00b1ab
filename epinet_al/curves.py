"""Areas under data-efficiency curves: shared by a run's summary and the offline report (numpy only).

A curve is a pair of arrays ``(labels, values)`` of one length, ``labels`` strictly increasing; between
evaluation points it is linear in labels (``normalized_auc``) or in log labels (``normalized_log_auc``).
"""

from __future__ import annotations

import numpy as np

Curve = tuple[np.ndarray, np.ndarray]


def normalized_auc(curve: Curve, lo: float, hi: float) -> float:
    """Area under the curve on [lo, hi] (trapezoid rule) divided by hi - lo.

    The result is the curve's average metric value over that label range. Requires
    labels[0] <= lo < hi <= labels[-1], so the area is interpolated, never extrapolated.
    """
    labels, values = curve
    inner = labels[(labels > lo) & (labels < hi)]
    points = np.concatenate([[lo], inner, [hi]])
    return float(np.trapezoid(np.interp(points, labels, values), points) / (hi - lo))


def normalized_log_auc(curve: Curve, lo: float, hi: float) -> float:
    """Area under the curve against log(labels) on [lo, hi] divided by log(hi / lo), 0 < lo < hi.

    The curve's average value on a log axis of labels: each doubling of the labels weighs alike, so the
    small budgets, where prioritization matters, count as much as the plateau (a linear AUC over 700-20,000
    labels gives the last doubling half its weight). NaN when lo is not positive.
    """
    if lo <= 0:
        return float("nan")
    labels, values = curve
    return normalized_auc((np.log(labels), values), float(np.log(lo)), float(np.log(hi)))


def curve_auc(rows: list[dict[str, float]], log: bool = False) -> dict[str, float]:
    """Area under each metric's curve over the run's label range, divided by it (a mean metric value);
    ``log``: against log(labels) (``normalized_log_auc``)."""
    by_labels = {row["num_labels"]: row for row in rows}  # the last (most trained) row per label count
    labels = np.array(sorted(by_labels), dtype=float)
    if labels.size < 2:
        return {}
    metrics = [key for key in rows[-1] if "/" in key and not key.startswith("train/")]
    area = normalized_log_auc if log else normalized_auc
    return {
        key: area((labels, np.array([by_labels[n][key] for n in labels])), labels[0], labels[-1]) for key in metrics
    }
