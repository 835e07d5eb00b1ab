"""Weights & Biases tracking: the curve against num_labels, grouped for comparison dashboards.

A W&B failure never kills a run: if the run cannot start online it falls back to offline, then to
no tracking, with a warning; a failed log call stops logging for the rest of the run, and the W&B
run is still closed (marked failed, so the dashboard shows its curve is incomplete). curve.csv is
written before anything is sent here, so the curve is never lost.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STEP_METRIC = "num_labels"


class WandbTracker:
    """One W&B run per experiment run; every metric is plotted against ``num_labels``."""

    def __init__(self, run: Any):
        self.run = run
        self._defined: set[str] = set()
        # False after a failed log call: the rest of the run logs nothing, but the run is still closed.
        self._logging = True
        self.run.define_metric(STEP_METRIC)

    @classmethod
    def start(
        cls,
        *,
        project: str,
        entity: str | None,
        mode: str,
        group: str,
        job_type: str,
        name: str,
        tags: list[str],
        config: dict[str, Any],
        output_dir: Path,
        run_id: str | None = None,
    ) -> WandbTracker | None:
        """Start (or resume, given ``run_id``) a run in ``mode``, else offline; None if W&B cannot start."""
        import wandb

        if mode not in ("online", "offline", "disabled"):
            raise ValueError(f"unknown W&B mode {mode!r}; valid modes: online, offline, disabled")
        kwargs = dict(
            project=project,
            entity=entity,
            group=group,
            job_type=job_type,
            name=name,
            tags=tags,
            config=config,
            dir=str(output_dir),
            id=run_id,
            resume="allow" if run_id else None,
            settings=wandb.Settings(init_timeout=60, silent=True),
        )
        for attempt in dict.fromkeys([mode, "offline"]):
            try:
                return cls(wandb.init(mode=attempt, **kwargs))
            except Exception as error:  # W&B raises many types (network, auth, usage): none may kill the run
                log.warning("W&B could not start in %s mode (%s)", attempt, error)
        log.warning("W&B disabled for this run; curve.csv and summary.json are still written")
        return None

    @property
    def run_id(self) -> str:
        return self.run.id

    def log(self, row: dict[str, float]) -> None:
        if not self._logging:
            return
        try:
            for key in row:
                if key not in self._defined and key != STEP_METRIC:
                    self.run.define_metric(key, step_metric=STEP_METRIC)
                    self._defined.add(key)
            self.run.log(dict(row))
        except Exception as error:
            log.warning("W&B logging failed (%s); W&B is off for the rest of this run", error)
            self._logging = False

    def fail(self) -> None:
        """Close the run marked failed (the experiment raised): its dashboard curve stops where it stopped."""
        try:
            self.run.finish(exit_code=1)
        except Exception as error:
            log.warning("W&B run did not close cleanly (%s)", error)

    def finish(self, summary: dict[str, Any], rows: list[dict[str, float]]) -> None:
        """The final curve as a table and a line plot, summary values, and close the run."""
        import wandb

        try:
            if not self._logging:
                return
            columns = list(dict.fromkeys(key for row in rows for key in row))
            table = wandb.Table(columns=columns, data=[[row.get(c) for c in columns] for row in rows])
            metric = summary["metric"]["name"]
            self.run.log(
                {
                    "curve": table,
                    "curve_plot": wandb.plot.line(table, STEP_METRIC, metric, title=f"{metric} vs labels"),
                }
            )
            self.run.summary.update({f"final/{k}": v for k, v in summary["final"].items()})
            self.run.summary.update({f"auc/{k}": v for k, v in summary.get("auc", {}).items()})
        except Exception as error:
            log.warning("W&B could not log the final curve (%s)", error)
            self._logging = False
        finally:
            try:
                self.run.finish(exit_code=0 if self._logging else 1)
            except Exception as error:
                log.warning("W&B run did not close cleanly (%s)", error)
