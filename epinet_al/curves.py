"""Areas under data-efficiency curves: shared by a run's summary and the offline report (numpy only).

A curve is a pair of arrays ``(labels, values)`` of one length, ``labels`` strictly increasing; between
evaluation points it is linear in labels.
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


def curve_auc(rows: list[dict[str, float]]) -> dict[str, float]:
    """Area under each metric's curve over the run's label range, divided by it (a mean metric value)."""
    by_labels = {row["num_labels"]: row for row in rows}  # the last (most trained) row per label count
    labels = np.array(sorted(by_labels), dtype=float)
    if labels.size < 2:
        return {}
    metrics = [key for key in rows[-1] if "/" in key and not key.startswith("train/")]
    return {
        key: normalized_auc((labels, np.array([by_labels[n][key] for n in labels])), labels[0], labels[-1])
        for key in metrics
    }
