"""Weights & Biases tracking: the curve against num_labels, grouped for comparison dashboards.

A W&B failure never kills a run: if the run cannot start online it falls back to offline, then to
no tracking, with a warning; a failed log call stops logging for the rest of the run, and the W&B
run is still closed (marked failed, so the dashboard shows its curve is incomplete). curve.csv is
written before anything is sent here, so the curve is never lost.

Steps. A curve row is logged at W&B step = the loop's step (a loop evaluates once per step at most),
which keeps counting across a resume, with ``num_labels`` as every metric's x axis and ``step`` logged as
a metric too. One point per label count: the evaluation points after the label budget all have
num_labels = max_labels and drew a vertical segment at the end of every dashboard curve, so a row is held
until a row with more labels comes (or the run ends or fails) and only the last row of each label count
is sent: the most trained model there, the point the report shows. The live curve is one point behind;
curve.csv and the final ``curve`` table hold every evaluation point.

Resume. A resumed experiment continues the same W&B run id, and first logs the saved curve rows
(state.pt) that W&B does not hold, those at or after ``run.step``, W&B's next step:
- online, the server's: the points it received before the stop are not sent again;
- offline (the default), 0: W&B starts a new ``offline-run-<time>-<id>`` folder, so the resumed run
  writes every point again and the newest folder of a run id holds the whole curve, each point once,
  in order: that folder is the one to sync (``make wandb-sync`` uploads only it). The folder of the
  killed run cannot be trusted: W&B's service writes an offline run's records in 32 KiB blocks, when
  a block is full or the run closes, offers no call to flush them, and drops what it buffered when
  the user process dies (wandb 0.31; core/pkg/server/server.go: "no need to sync uncommitted data").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STEP_METRIC = "num_labels"
LOOP_STEP = "step"
# The value W&B's runs table shows for a metric (bare name; keys are `split/name`): the best one, by
# the way the metric improves; others keep W&B's default, the last value.
SUMMARIES = {
    **dict.fromkeys(["nll", "joint_nll", "ece", "loss"], "min"),
    **dict.fromkeys(["acc", "f1", "matthews", "pearson", "spearman"], "max"),
}


class WandbTracker:
    """One W&B run per experiment run; every metric is plotted against ``num_labels``.

    ``rows``: the curve rows recorded before a resume; those W&B does not hold yet are logged first.
    """

    def __init__(self, run: Any, rows: list[dict[str, float]] | None = None):
        self.run = run
        self._defined: set[str] = set()
        # False after a failed log call: the rest of the run logs nothing, but the run is still closed.
        self._logging = True
        self.run.define_metric(STEP_METRIC)
        self.run.define_metric(LOOP_STEP)
        # Rows at earlier loop steps are in W&B already (see the module docstring).
        self._next_step = self.run.step
        self._held: dict[str, float] | None = None  # the last row, until one with more labels comes
        for row in rows or []:
            self.log(row)

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
        rows: list[dict[str, float]] | None = None,
    ) -> WandbTracker | None:
        """Start a run in ``mode``, else offline; None if W&B cannot start.

        Resumes run ``run_id`` when given, with ``rows`` the curve rows recorded before the resume.
        """
        import wandb

        if mode not in ("online", "offline", "disabled"):
            raise ValueError(f"unknown W&B mode {mode!r}; valid modes: online, offline, disabled")
        kwargs: dict[str, Any] = dict(
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
                return cls(wandb.init(**kwargs | {"mode": attempt}), rows)
            except Exception as error:  # W&B raises many types (network, auth, usage): none may kill the run
                log.warning("W&B could not start in %s mode (%s)", attempt, error)
        log.warning("W&B disabled for this run; curve.csv and summary.json are still written")
        return None

    @property
    def run_id(self) -> str:
        return self.run.id

    def log(self, row: dict[str, float]) -> None:
        """Hold ``row``; send the row held before unless ``row`` has the same label count (see the module
        docstring)."""
        held, self._held = self._held, dict(row)
        if held is not None and held[STEP_METRIC] != row[STEP_METRIC]:
            self._send(held)

    def _flush(self) -> None:
        """Send the held row: the run ends, or stops."""
        held, self._held = self._held, None
        if held is not None:
            self._send(held)

    def _send(self, row: dict[str, float]) -> None:
        step = int(row[LOOP_STEP])
        # A point W&B holds already: sent online before a stop, or redone by the loop after a kill.
        if not self._logging or step < self._next_step:
            return
        try:
            for key in row:
                if key not in self._defined and key not in (STEP_METRIC, LOOP_STEP):
                    summary = SUMMARIES.get(key.rpartition("/")[2])
                    self.run.define_metric(key, step_metric=STEP_METRIC, summary=summary)
                    self._defined.add(key)
            self.run.log(dict(row), step=step, commit=True)
            self._next_step = step + 1
        except Exception as error:
            log.warning("W&B logging failed (%s); W&B is off for the rest of this run", error)
            self._logging = False

    def fail(self) -> None:
        """Close the run marked failed (the experiment raised): its dashboard curve stops where it stopped."""
        self._flush()
        try:
            self.run.finish(exit_code=1)
        except Exception as error:
            log.warning("W&B run did not close cleanly (%s)", error)

    def finish(self, summary: dict[str, Any], rows: list[dict[str, float]]) -> None:
        """The final curve as a table and a line plot, summary values, and close the run."""
        import wandb

        self._flush()
        try:
            if not self._logging:
                return
            names = list(dict.fromkeys(key for row in rows for key in row))
            columns: list[str | int] = list(names)
            table = wandb.Table(columns=columns, data=[[row.get(c) for c in names] for row in rows])
            metric = summary["metric"]["name"]
            self.run.log(
                {
                    "curve": table,
                    "curve_plot": wandb.plot.line(table, STEP_METRIC, metric, title=f"{metric} vs labels"),
                }
            )
            self.run.summary.update({f"final/{k}": v for k, v in summary["final"].items()})
            self.run.summary.update({f"auc/{k}": v for k, v in summary.get("auc", {}).items()})
            self.run.summary.update({f"auc_log/{k}": v for k, v in summary.get("auc_log", {}).items()})
        except Exception as error:
            log.warning("W&B could not log the final curve (%s)", error)
            self._logging = False
        finally:
            try:
                self.run.finish(exit_code=0 if self._logging else 1)
            except Exception as error:
                log.warning("W&B run did not close cleanly (%s)", error)
