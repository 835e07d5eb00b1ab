"""What one Hydra job of `epinet-al` does in its folder: a single run, or one job of a multirun.

The checks around them (the config, a finished or busy folder, a sweep's grid and its summary) are Hydra
callbacks (``epinet_al.hydra_callbacks``); this is the part that runs where the job runs (this process, a
submitit subprocess or a SLURM node).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from epinet_al.config import to_experiment_config
from epinet_al.errors import BAD_INPUT, INTERRUPTED, USER_ERRORS, debug, one_line
from epinet_al.run_folder import ERROR_FILE, FolderBusy, check_finished, lock, result_line, unlock, write_error

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Stopped:
    """A single run that stopped early: its one-line reason and exit status, for ``RunChecks.on_run_end``."""

    message: str
    code: int


def metric_value(summary: dict[str, Any]) -> float:
    """The run's final primary metric: what the job returns to Hydra (an optimising sweeper reads it)."""
    return summary["final"][summary["metric"]["name"]]


def run_single(cfg: DictConfig, output_dir: Path) -> float | Stopped:
    """A single run in ``output_dir`` (checked and locked by ``RunChecks``); bad input or Ctrl-C is a ``Stopped``."""
    from epinet_al import experiment

    try:
        summary = experiment.run_experiment(to_experiment_config(cfg), output_dir)
    except KeyboardInterrupt:
        return Stopped("interrupted", INTERRUPTED)
    except Exception as error:
        if debug() or not _is_user_error(error):
            raise
        return Stopped(one_line(error), BAD_INPUT)
    print(f"{output_dir}: {result_line(summary)}")
    return metric_value(summary)


def launched_rank() -> int:
    """This task's rank in a job whose processes srun or torchrun started (a data-parallel job), else 0."""
    return int(os.environ.get("SLURM_PROCID", os.environ.get("RANK", "0")))


def run_sweep_job(cfg: DictConfig, output_dir: Path) -> float | None:
    """One job of a multirun: a finished job is left as it is; a failing job writes error.txt, logs one
    line and returns None, so that the launcher goes on with the next job.

    Every task of a data-parallel SLURM job runs this; the first holds the folder's lock and writes it.
    """
    first = launched_rank() == 0
    try:
        held = lock(output_dir, _job_description()) if first else None
    except FolderBusy as error:
        log.error("%s", error)
        return None
    try:
        experiment_cfg = to_experiment_config(cfg)  # an invalid job fails before its data is read
        summary = check_finished(output_dir, dataclasses.asdict(experiment_cfg))
        if summary is not None:
            print(f"{output_dir} is complete: {result_line(summary)}")
            return metric_value(summary)
        from epinet_al import experiment

        if first:
            (output_dir / ERROR_FILE).unlink(missing_ok=True)
        summary = experiment.run_experiment(experiment_cfg, output_dir)
        print(f"{output_dir}: {result_line(summary)}")
        return metric_value(summary)
    except Exception as error:
        reason = one_line(error)
        if first:
            write_error(output_dir, reason, error)
        log.error("job failed: %s (%s)", reason, output_dir)
        return None
    finally:
        if held is not None:
            unlock(held)


def _job_description() -> str:
    """A sweep job as its lock file names it: its overrides (Hydra's record of them)."""
    overrides = " ".join(HydraConfig.get().overrides.task) if HydraConfig.initialized() else ""
    return f"sweep job {overrides}".strip()


def _is_user_error(error: BaseException) -> bool:
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    return isinstance(error, (*USER_ERRORS, MisconfigurationException))
