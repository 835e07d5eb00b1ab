"""Tracking: curve.csv and summary.json on disk, W&B when asked, versions of everything."""

from epinet_al.tracking.recorder import CURVE_FILE, SUMMARY_FILE, CurveRecorder, write_summary

__all__ = ["CURVE_FILE", "SUMMARY_FILE", "CurveRecorder", "write_summary"]
