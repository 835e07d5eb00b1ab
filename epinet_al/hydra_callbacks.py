"""The checks around every run and sweep of `epinet-al`, as Hydra callbacks (``hydra.callbacks`` in
conf/config.yaml), so that every launcher gets them: Hydra's basic and joblib ones, and submitit's local and SLURM
ones.

- ``RunChecks``, a single run: before Hydra writes anything, the config is converted and checked, a folder that
  holds a finished run is left as it is (or refused, if that run had another config), a resume folder must
  hold a state saved with the same config, and the folder is locked. At the end the lock is released, and a
  run that stopped before its first result takes back the folder it made; bad input ends in one line.
- ``SweepChecks``, a multirun: before any job runs, every job of the grid is composed as the launcher will
  compose it and checked; a grid that cannot run, jobs that would share a folder, folders that hold runs of
  another config or that another command is writing are refused in one line; a sweep whose jobs are all
  finished runs nothing. A job's folder is named by the keys the sweep varies. In a job of the local or the
  joblib launcher, the job stops when the command that started it is gone. At the end: one line per failed job.

What runs inside a job (its lock, a finished job left as it is, error.txt) is ``epinet_al.jobs``: a callback
cannot skip a job. Hydra turns an exception raised in a callback into a warning, so these report bad input as
``SystemExit`` (one line, exit 2) and a program error with its traceback (exit 1).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from epinet_al.config import ExperimentConfig, to_experiment_config
from epinet_al.errors import INTERRUPTED, UsageError, debug, one_line, stop
from epinet_al.jobs import Stopped
from epinet_al.run_folder import (
    LOCK_FILE,
    STATE_FILE,
    CreatedFiles,
    FolderBusy,
    check_finished,
    error_reason,
    is_finished,
    is_locked,
    lock,
    lock_holder,
    result_line,
    unlock,
)
from epinet_al.sweep_grid import expand

# Errors of a config or a folder that the command reports in one line.
CHECK_ERRORS = (UsageError, HydraException, OmegaConfBaseException, TypeError, ValueError, OSError, FolderBusy)


@contextmanager
def reported() -> Iterator[None]:
    """Bad input ends the command in one line; anything else with its traceback (not as Hydra's warning)."""
    try:
        yield
    except CHECK_ERRORS as error:
        if debug():
            traceback.print_exc()
        stop(one_line(error))
    except Exception:
        traceback.print_exc()
        raise SystemExit(1) from None


def command_line() -> str:
    return " ".join(["epinet-al", *sys.argv[1:]])


def experiment_config(cfg: DictConfig) -> ExperimentConfig:
    """A job's typed config (to_experiment_config refuses an invalid one).

    A job sent to SLURM runs on another machine: its devices are checked there, not against this one's
    (a login node without a GPU must still submit a GPU sweep).
    """
    remote = "Slurm" in str(OmegaConf.select(cfg, "hydra.launcher._target_", default=""))
    cfg = cfg.copy()
    with open_dict(cfg):
        del cfg["hydra"]  # as Hydra does before calling the task function
    return to_experiment_config(cfg, devices=not remote)


def check_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be created or written, without creating it."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"output folder {folder} cannot be created: {existing} is not a folder")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise UsageError(f"output folder {folder} cannot be written: {error.strerror}") from None


def check_resumable_folder(folder: Path, cfg: ExperimentConfig) -> bool:
    """Whether ``folder`` holds a state to resume; refuses one saved with another config (reads no tensor)."""
    if not (folder / STATE_FILE).is_file():
        return False  # without importing torch: a sweep's pre-flight checks every job's folder
    from epinet_al.active_learning.checkpoint import check_resumable

    return check_resumable(folder, dataclasses.asdict(cfg))


# ---------------------------------------------------------------- a single run


@dataclasses.dataclass
class _Run:
    folder: Path
    created: CreatedFiles
    bookkeeping: set[str]  # what Hydra and the lock add before the run writes anything of its own
    held: int


class RunChecks(Callback):
    """A single run's folder: checked and locked before Hydra writes to it, released and reported after."""

    def __init__(self) -> None:
        self._run: _Run | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        with reported():
            cfg = experiment_config(config)
            folder = Path(os.path.abspath(str(config.hydra.run.dir)))
            summary = check_finished(folder, dataclasses.asdict(cfg), resume=bool(cfg.resume))
            if summary is not None:
                print(f"{folder} is complete: {result_line(summary)}")
                raise SystemExit(0)
            check_writable(folder)
            if not check_resumable_folder(folder, cfg) and cfg.resume:
                raise UsageError(f"nothing to resume in {folder}: it has no {STATE_FILE}")
            created = CreatedFiles(folder)
            bookkeeping = {LOCK_FILE, str(config.hydra.output_subdir), f"{config.hydra.job.name}.log"}
            try:
                held = lock(folder, command_line())
            except FolderBusy:
                created.remove_if_no_results(bookkeeping)
                raise
            self._run = _Run(folder, created, bookkeeping, held)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        job_return: JobReturn = kwargs["job_return"]
        run, self._run = self._run, None
        if run is None:
            return
        unlock(run.held)
        completed = job_return.status == JobStatus.COMPLETED
        stopped = job_return.return_value if completed and isinstance(job_return.return_value, Stopped) else None
        if not completed or stopped is not None:  # no result: take back the folder (if the run made it)
            run.created.remove_if_no_results(run.bookkeeping)
        if stopped is not None and stopped.code == INTERRUPTED:
            if run.folder.is_dir():
                resume = f"run the same command again to resume from the last evaluation point ({run.folder})"
                print(f"interrupted; {resume}")
            else:
                print("interrupted before the first evaluation point; nothing was kept")
            raise SystemExit(INTERRUPTED)
        if stopped is not None:
            stop(stopped.message, stopped.code)


# ---------------------------------------------------------------- a multirun


@dataclasses.dataclass
class _Job:
    overrides: list[str]
    label: str
    folder: Path | None = None  # None: the job's config cannot be composed
    invalid: str | None = None  # the one-line reason its config is refused
    conflict: str | None = None  # its folder holds another config's run, or another command is writing it

    @property
    def path(self) -> Path:
        """Its folder: every job that gets past ``_refuse_unrunnable`` has one."""
        assert self.folder is not None
        return self.folder


@dataclasses.dataclass
class _Sweep:
    folder: Path
    jobs: list[_Job]
    held: int


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def plan_sweep(config: DictConfig) -> tuple[Path, list[_Job]] | None:
    """The sweep folder and every job of the grid, each composed as the launcher will and checked; None when
    the sweeper is not Hydra's basic one (an optimising sweeper chooses its jobs as it goes)."""
    sweeper = config.hydra.sweeper
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    loader = GlobalHydra.instance().config_loader()
    params = {str(k): str(v) for k, v in (sweeper.get("params") or {}).items()}
    grid = expand(params, list(config.hydra.overrides.task), loader)
    if grid is None:
        return None
    # A job folder's name holds every swept key besides those already in its path (and seed): the keys given
    # one value are left out. The launcher composes each job with the sweep's Hydra overrides, this one too.
    exclude = dict.fromkeys([*config.hydra.job.config.override_dirname.exclude_keys, *grid.fixed])
    with read_write(config.hydra.overrides):
        config.hydra.overrides.hydra.append(
            f"hydra.job.config.override_dirname.exclude_keys=[{','.join(map(_quote, exclude))}]"
        )
    sweep_dir = Path(os.path.abspath(str(config.hydra.sweep.dir)))
    jobs = []
    try:
        for overrides in grid.jobs:
            job = _Job(overrides, grid.label(overrides))
            jobs.append(job)
            try:
                cfg = loader.load_sweep_config(config, overrides)
                HydraConfig.instance().set_config(cfg)  # for ${hydra:job.override_dirname} in the folder's name
                job.folder = Path(os.path.abspath(os.path.join(sweep_dir, str(cfg.hydra.sweep.subdir))))
                run_cfg = experiment_config(cfg)
            except CHECK_ERRORS as error:
                if debug():
                    raise
                job.invalid = one_line(error)
                continue
            job.conflict = _folder_conflict(job.folder, run_cfg)
    finally:
        HydraConfig.instance().set_config(config)
    return sweep_dir, jobs


def _folder_conflict(folder: Path, cfg: ExperimentConfig) -> str | None:
    """Why a job cannot run in ``folder``: a run of another config is there, or another command writes it."""
    try:
        check_finished(folder, dataclasses.asdict(cfg))
        check_resumable_folder(folder, cfg)
    except ValueError as error:
        return str(error)
    if is_locked(folder):
        return f"another epinet-al command is writing {folder} ({lock_holder(folder)}); wait for it or stop it"
    return None


def _refuse_unrunnable(jobs: list[_Job]) -> None:
    """Stop before any job runs when the grid as a whole cannot run; list the jobs that will fail."""
    # A job Hydra cannot compose would stop the launcher before any job runs: refuse the command.
    uncomposable = list(dict.fromkeys(job.invalid for job in jobs if job.invalid and job.folder is None))
    for reason in uncomposable[:-1]:
        print(f"epinet-al: error: {reason}", file=sys.stderr)
    if uncomposable:
        raise UsageError(uncomposable[-1])
    seen: dict[Path | None, _Job] = {}
    for job in jobs:
        if job.folder in seen:  # a hydra.sweep.subdir of the user's that leaves out a swept key
            raise UsageError(f"jobs {seen[job.folder].label} and {job.label} would write one folder, {job.folder}")
        seen[job.folder] = job
    conflicts = [job for job in jobs if job.conflict]
    if conflicts:
        more = f" ({len(conflicts) - 1} more of the {len(jobs)} jobs likewise)" if len(conflicts) > 1 else ""
        raise UsageError(f"job {conflicts[0].label}: {conflicts[0].conflict}{more}")
    invalid = [job for job in jobs if job.invalid]
    for job in invalid:
        print(f"epinet-al: invalid job {job.label}: {job.invalid}", file=sys.stderr)
    if invalid and len(invalid) == len(jobs):
        raise UsageError(invalid[0].invalid if len(jobs) == 1 else f"all {len(jobs)} jobs are invalid")
    if invalid:
        print(f"epinet-al: {len(invalid)} of {len(jobs)} jobs are invalid (they fail at once); the others run",
              file=sys.stderr)  # fmt: skip


class SweepChecks(Callback):
    """A multirun: the grid checked before any job runs, the sweep folder locked, a summary at the end."""

    def __init__(self) -> None:
        self._sweep: _Sweep | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # The jobs that run in processes this command starts (the joblib launcher's workers) know it by this.
        os.environ[COMMAND_ENV] = command_identity()
        with reported():
            _check_slurm(config)
            planned = plan_sweep(config)
            if planned is None:
                return
            sweep_dir, jobs = planned
            _refuse_unrunnable(jobs)
            if all(is_finished(job.path) for job in jobs):
                print(f"all {len(jobs)} jobs in {sweep_dir} are complete; {_next_step(config, sweep_dir)}")
                raise SystemExit(0)
            check_writable(sweep_dir)
            self._sweep = _Sweep(sweep_dir, jobs, lock(sweep_dir, command_line()))

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if os.environ.get("SUBMITIT_EXECUTOR") == "local":
            end_with_submitter()
        elif os.environ.get(COMMAND_ENV) == command_identity(os.getppid()):
            end_with_parent()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep, self._sweep = self._sweep, None
        if sweep is None:
            return
        unlock(sweep.held)
        failed = [job for job in sweep.jobs if not is_finished(job.path)]
        print(f"epinet-al: {len(sweep.jobs) - len(failed)} finished, {len(failed)} failed ({sweep.folder})",
              file=sys.stderr)  # fmt: skip
        for job in failed:
            print(f"epinet-al: failed job {job.label}: {_failure(job.path)}", file=sys.stderr)
        if failed:
            print(
                f"fix the cause and run the same command with hydra.sweep.dir={sweep.folder}: finished jobs are "
                "kept, the others run again",
                file=sys.stderr,
            )
            raise SystemExit(1)
        print(f"compare the runs: epinet-al-report {sweep.folder}")


def _check_slurm(config: DictConfig) -> None:
    """A SLURM launcher needs a controller that answers: said in one line before anything is written."""
    if "Slurm" not in str(OmegaConf.select(config, "hydra.launcher._target_", default="")):
        return
    try:
        answer = subprocess.run(["sinfo", "--noheader"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UsageError(
            f"the sweep could not run: hydra/launcher={config.hydra.runtime.choices['hydra/launcher']} needs a "
            f"SLURM cluster's commands (sinfo, sbatch) and a controller that answers ({error})"
        ) from None
    if answer.returncode != 0:
        reason = next((line for line in answer.stderr.splitlines() if line.strip()), f"sinfo exit {answer.returncode}")
        raise UsageError(f"the sweep could not run: {reason.strip()}")


def _next_step(config: DictConfig, sweep_dir: Path) -> str:
    """What to run on a finished sweep: the report, or for an experiment's tuning stage the choice (stage 2)."""
    callbacks = (config.hydra.callbacks or {}).values()
    if any("TuneThenReport" in str(callback.get("_target_")) for callback in callbacks):
        return f"write stage 2: epinet-al-report {sweep_dir} --tune"
    return f"compare them: epinet-al-report {sweep_dir}"


def _failure(folder: Path) -> str:
    """Why a job has no result: its error.txt, or the command that is writing its folder."""
    reason = error_reason(folder)
    if reason is not None:
        return reason
    if is_locked(folder):
        return f"another epinet-al command is writing {folder} ({lock_holder(folder)}); wait for it or stop it"
    return "no result (the job stopped before writing summary.json)"


def _parent(pid: int) -> int | None:
    """The parent of process ``pid`` (Linux: /proc), None if it is gone or unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the fields after the command name: state, ppid, ...


# The command of a sweep, host:pid, in the environment of the processes it starts.
COMMAND_ENV = "EPINET_AL_COMMAND"
# Seconds a job interrupted because its command is gone has to stop before its worker process ends.
WIND_DOWN_S = 30
WATCH_THREAD = "epinet-al-end-with-command"


def command_identity(pid: int | None = None) -> str:
    """host:pid of process ``pid`` (this one by default): a pid alone could be another host's (SLURM jobs inherit
    the submitting command's environment)."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def end_with_parent() -> None:
    """In a job that runs in a worker process of the command (Hydra's joblib launcher): stop as after Ctrl-C once
    the command is gone; the worker, then handed to another parent, ends too (it would otherwise wait for its dead
    command's next job until loky's idle timeout, minutes, holding its memory). Loky's workers ignore SIGINT (their
    command handles Ctrl-C): the job's takes Python's default again, so that Ctrl-C, and the watch, stop it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if any(thread.name == WATCH_THREAD for thread in threading.enumerate()):
        return  # a worker runs job after job: one watch serves them all
    command = os.getppid()
    _interrupt_when_gone(lambda: os.getppid() == command, exit_after=WIND_DOWN_S)


def end_with_submitter() -> None:
    """In a job of the local launcher: stop as after Ctrl-C once the command that started it is gone. The job runs
    under submitit's controller, a child process of that command."""
    controller = os.getppid()
    submitter = _parent(controller)
    if submitter is not None:
        _interrupt_when_gone(lambda: _parent(controller) == submitter)


def _interrupt_when_gone(command_alive: Callable[[], bool], exit_after: float | None = None) -> None:
    """Watch, once a second, whether the job's command is still there; when it is gone (killed, or stopped with
    Ctrl-C), interrupt the job as Ctrl-C would (its state kept for a rerun) instead of letting it go on as an
    orphan that holds its folder's lock, and, with ``exit_after``, end this process that many seconds later."""

    def watch() -> None:
        while command_alive():
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGINT)
        if exit_after is not None:
            time.sleep(exit_after)  # time for the job to stop
            os._exit(INTERRUPTED)

    threading.Thread(target=watch, name=WATCH_THREAD, daemon=True).start()


# ---------------------------------------------------------------- a two-stage experiment


class TuneThenReport(Callback):
    """Stage 1 of an experiment (a tuning sweep; conf/experiment/): once every one of its runs has finished,
    choose each agent's configuration (``epinet_al.report.tuning``) and write stage 2, the chosen configurations
    on the reported ``seeds`` (a Hydra sweep such as ``range(0,5)``), into the folder ``reported`` beside it."""

    def __init__(self, seeds: str) -> None:
        self.seeds = seeds

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from epinet_al.report.errors import ReportError
        from epinet_al.report.tuning import STAGE2_CONFIG, choose, stage2_folder, write_stage2

        tune_dir = Path(os.path.abspath(str(config.hydra.sweep.dir)))
        with reported():
            try:
                stage2 = write_stage2(choose(tune_dir), stage2_folder(tune_dir), self.seeds)
            except ReportError as error:
                print(f"epinet-al: stage 2 not written: {error}", file=sys.stderr)
                return
        print(f"stage 2 written; run it: epinet-al -m --config-dir {stage2} --config-name {STAGE2_CONFIG}")
