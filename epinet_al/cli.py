"""The `epinet-al` command: compose the Hydra config, convert it once, run the experiment.

Bad input ends with one line on stderr naming the bad value (and the valid choices where there
are any) and exit status 2. Set HYDRA_FULL_ERROR=1 (or EPINET_AL_DEBUG=1) to get the traceback.

Before Hydra runs anything, the command composes the config of every job (the whole grid of a
multirun) with Hydra's public compose API and converts it, so that errors the command line alone
shows leave no folder behind. It then pins the run folder (or the sweep folder) it found, locks
it, and hands Hydra the same command. A single run in a folder that holds a finished run stops at
once; a sweep job that fails records why in its folder and the sweep goes on.

Nothing here imports torch or Lightning at module level: `--help`, `--cfg` and shell completion
start in about a second; the experiment is imported when a run starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from epinet_al.config import ExperimentConfig, to_experiment_config
from epinet_al.paths import CONFIG_DIR
from epinet_al.run_folder import (
    ERROR_FILE,
    LOCK_FILE,
    CreatedFiles,
    FolderBusy,
    config_differences,
    error_reason,
    finished_summary,
    lock,
    result_line,
    unlock,
    write_error,
)
from epinet_al.sweep_grid import Grid, expand, force_add_keys_of_swept_groups, parse

# conf/ sits at the top of the repository, next to the package (installed in editable mode).
# Groups that are chosen by their own mechanism, not by the user as `group=option`.
_INTERNAL_GROUPS = {"hydra", "task_head", "model_head"}
# Exceptions that mean "the input (or the disk, or the machine) is wrong", not "the program is wrong".
# OSError covers a missing file, a full disk or a lost mount while results are written; RuntimeError
# is what Lightning and torch raise for a device that is not there (`trainer=gpu` on a CPU machine)
# and what submitit raises when the SLURM controller cannot be reached.
USER_ERRORS = (ValueError, OSError, FloatingPointError, RuntimeError)
# Config errors found while composing or converting a job.
_CONFIG_ERRORS = (HydraException, OmegaConfBaseException, TypeError, ValueError)
# Hydra options that show something instead of running jobs: the command goes to Hydra unchanged.
_SHOW_OPTIONS = ("help", "hydra_help", "cfg", "info", "shell_completion", "experimental_rerun")
INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C (128 + SIGINT)

log = logging.getLogger(__name__)

# Hydra 1.3 deep-copies its config repository, and with it the whole ConfigStore singleton, every
# time it composes a config or lists a group's options: 130 copies for `--help` (12 s on a busy
# 2-core machine), 0.3 s per job for a sweep. Every copy reads the same store, so sharing it changes
# nothing; Hydra's own fix (facebookresearch/hydra#2928) makes the copies use the live store too.
ConfigStore.__deepcopy__ = lambda self, memo: self  # type: ignore[method-assign]


class UsageError(Exception):
    """Bad command-line input, reported in one line."""


def _debug() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("EPINET_AL_DEBUG") == "1"


def group_options(config_dir: Path = CONFIG_DIR) -> dict[str, list[str]]:
    """The user-selectable config groups and their options, from the files under conf/."""
    return {
        group.name: sorted(path.stem for path in group.glob("*.yaml"))
        for group in sorted(config_dir.iterdir())
        if group.is_dir() and group.name not in _INTERNAL_GROUPS
    }


def check_group_choices(args: list[str], options: dict[str, list[str]]) -> None:
    """Refuse `group=option` overrides naming an option that does not exist (sweeps included)."""
    overrides = [arg for arg in args if not arg.startswith("-") and "=" in arg]
    try:
        parsed = parse(overrides)
    except HydraException:
        return  # a syntax error: reported where the overrides are composed
    for override in parsed:
        group = override.key_or_group
        if group not in options or override.is_delete():
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        for value in values:
            if str(value) not in options[group]:
                raise UsageError(f"unknown {group} {value!r}; valid {group} options: {', '.join(options[group])}")


def one_line(error: BaseException) -> str:
    """The first line of an error and of each error it was raised from: OmegaConf adds lines with
    the full key and object type, Hydra puts the reason in the cause."""
    parts: list[str] = []
    cause: BaseException | None = error
    while cause is not None:
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        # A first line that ends with a colon announces the reason on the next one (Hydra's composition errors).
        line = " ".join(lines[:2]) if len(lines) > 1 and lines[0].endswith(":") else next(iter(lines), "")
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and isinstance(cause.parent_node, DictConfig):
            line += f"; valid keys: {', '.join(map(str, cause.parent_node.keys()))}"
        if line and not any(line in part for part in parts):  # a cause the message already quotes adds nothing
            parts.append(line)
        cause = cause.__cause__
    parts = parts or [type(error).__name__]
    return ": ".join([part.removesuffix(".") for part in parts[:-1]] + parts[-1:])


def _config_error(error: BaseException) -> UsageError:
    where = f"cannot parse {error.override!r}: " if isinstance(error, OverrideParseException) else ""
    return UsageError(where + one_line(error))


# ---------------------------------------------------------------- the command line


def _parser() -> argparse.ArgumentParser:
    """Hydra's options (hydra.main parses them again): which are overrides, which select the config."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("overrides", nargs="*")
    for flags in (["--help", "-h"], ["--hydra-help"], ["--resolve"], ["--run", "-r"], ["--multirun", "-m"]):
        parser.add_argument(*flags, action="store_true")
    parser.add_argument("--shell-completion", "-sc", action="store_true")
    for flags in (["--cfg", "-c"], ["--package", "-p"], ["--config-path", "-cp"], ["--config-name", "-cn"]):
        parser.add_argument(*flags)
    parser.add_argument("--config-dir", "-cd")
    parser.add_argument("--experimental-rerun")
    parser.add_argument("--info", "-i", nargs="?", const="all")
    parser.add_argument("--version", action="store_true")
    return parser


@dataclasses.dataclass
class Command:
    """One `epinet-al` invocation: the options that choose the config, and the overrides split in two."""

    multirun: bool
    config_name: str | None
    config_dir: str | None
    config_path: str | None
    hydra_overrides: list[str]  # hydra.* and hydra/<group>=...
    overrides: list[str]  # the task's

    def argv(self, pinned: list[str]) -> list[str]:
        """The command line that Hydra gets: the same options, ``pinned`` hydra overrides added."""
        options = ["-m"] if self.multirun else []
        for flag, value in (("-cn", self.config_name), ("-cd", self.config_dir), ("-cp", self.config_path)):
            options += [flag, value] if value is not None else []
        return [*options, *self.hydra_overrides, *pinned, *self.overrides]

    @contextmanager
    def composer(self) -> Iterator[Callable[[list[str]], DictConfig]]:
        """compose(overrides) -> the config (with its hydra node) that Hydra builds for a job."""
        primary = Path(self.config_path).resolve() if self.config_path else CONFIG_DIR
        extra = []
        if self.config_dir is not None:
            if not Path(self.config_dir).is_dir():
                raise UsageError(f"--config-dir {self.config_dir} is not a folder")
            # The primary config is in --config-dir; conf/ joins the search path, as with hydra.main.
            primary, extra = Path(self.config_dir).resolve(), [f"hydra.searchpath=[file://{primary}]"]
        with initialize_config_dir(config_dir=str(primary), version_base="1.3"):

            def compose_job(overrides: list[str]) -> DictConfig:
                name, overrides = self.config_name or "config", [*extra, *self.hydra_overrides, *overrides]
                cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
                HydraConfig.instance().set_config(cfg)  # for ${hydra:...} in the folder names
                return cfg

            yield compose_job


def parse_command(argv: list[str]) -> tuple[argparse.Namespace, Command | None]:
    """The parsed options, and the command to plan (None: hand the command line to Hydra as it is)."""
    args, unknown = _parser().parse_known_args(argv)
    if unknown or args.version or any(getattr(args, option) for option in _SHOW_OPTIONS):
        return args, None
    try:
        parsed = parse(args.overrides)
    except OverrideParseException as error:
        raise _config_error(error) from None
    hydra_overrides = [text for text, o in zip(args.overrides, parsed, strict=True) if o.is_hydra_override()]
    overrides = [text for text, o in zip(args.overrides, parsed, strict=True) if not o.is_hydra_override()]
    return args, Command(args.multirun, args.config_name, args.config_dir, args.config_path, hydra_overrides, overrides)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _key(override: str) -> str:
    return parse([override])[0].key_or_group


def with_saved_overrides(command: Command) -> Command:
    """`resume=<folder>` alone: the folder's own overrides (.hydra/overrides.yaml) and primary config
    (.hydra/hydra.yaml), then the command line's on top. state.pt's config stays the reference: a
    changed key other than progress_bar, logger.* and resume is refused when the run folder is checked."""
    resume = next((o.value() for o in reversed(parse(command.overrides)) if o.key_or_group == "resume"), None)
    if not isinstance(resume, str) or not (Path(resume) / ".hydra" / "overrides.yaml").is_file():
        return command
    saved_dir = Path(resume) / ".hydra"
    given = {_key(o) for o in command.overrides}
    saved = [str(o) for o in OmegaConf.load(saved_dir / "overrides.yaml") if _key(str(o)) not in given | {"resume"}]
    command = dataclasses.replace(command, overrides=[*saved, *command.overrides])
    if command.config_name is None and command.config_dir is None and (saved_dir / "hydra.yaml").is_file():
        job = OmegaConf.load(saved_dir / "hydra.yaml").hydra
        sources = [s.path for s in job.runtime.config_sources if s.provider == "command-line"]
        config_dir = sources[0].removeprefix("file://") if sources else None
        command = dataclasses.replace(command, config_name=job.job.config_name, config_dir=config_dir)
    return command


# ---------------------------------------------------------------- checks that need no data


def _experiment_config(cfg: DictConfig) -> ExperimentConfig:
    """The job's typed config (to_experiment_config refuses an invalid one).

    A job sent to SLURM runs on another machine: its devices are checked there, not against this one's
    (a login node without a GPU must still submit a GPU sweep).
    """
    remote = "Slurm" in str(OmegaConf.select(cfg, "hydra.launcher._target_", default=""))
    cfg = cfg.copy()
    with open_dict(cfg):
        del cfg["hydra"]  # as Hydra does before calling the task function
    return to_experiment_config(cfg, devices=not remote)


def _check_writable(folder: Path) -> None:
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


def _check_run_folder(folder: Path, cfg: ExperimentConfig) -> None:
    """A single run's folder: writable; a resume folder holds a state saved with the same config."""
    from epinet_al.active_learning.checkpoint import STATE_FILE, check_resumable

    _check_writable(folder)
    try:
        resumable = check_resumable(folder, dataclasses.asdict(cfg))
    except ValueError as error:
        raise UsageError(str(error)) from None
    if cfg.resume and not resumable:
        raise UsageError(f"nothing to resume in {folder}: it has no {STATE_FILE}")


def _finished(folder: Path, cfg: ExperimentConfig) -> dict[str, Any] | None:
    """The summary of the finished run in ``folder``; refuses one that ran with another config."""
    try:
        summary = finished_summary(folder)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if summary is not None:
        differences = config_differences(summary.get("config", {}), dataclasses.asdict(cfg))
        if differences and cfg.resume:
            raise UsageError(f"cannot resume {folder}: its config differs in {'; '.join(differences[:5])}")
        if differences:
            raise UsageError(
                f"{folder} holds a finished run with another config: it differs in {'; '.join(differences[:5])}; "
                "choose another folder"
            )
    return summary


def _bookkeeping(cfg: DictConfig) -> set[str]:
    """Files Hydra and the lock add to a run folder before the run writes anything of its own."""
    return {LOCK_FILE, str(cfg.hydra.output_subdir), f"{cfg.hydra.job.name}.log"}


# ---------------------------------------------------------------- single run


@dataclasses.dataclass
class _SingleRun:
    """What main() learnt about the run folder before Hydra ran, for the task function (same process)."""

    created: CreatedFiles
    bookkeeping: set[str]


_single_run: _SingleRun | None = None


def run_one(command: Command) -> int:
    command = with_saved_overrides(command)
    try:
        with command.composer() as compose_job:
            cfg = compose_job(command.overrides)
            folder = Path(os.path.abspath(str(OmegaConf.select(cfg, "hydra.run.dir"))))
            experiment = _experiment_config(cfg)
    except _CONFIG_ERRORS as error:
        if _debug():
            raise
        raise _config_error(error) from None
    summary = _finished(folder, experiment)
    if summary is not None:
        print(f"{folder} is complete: {result_line(summary)}")
        return 0
    _check_run_folder(folder, experiment)

    global _single_run
    _single_run = _SingleRun(CreatedFiles(folder), _bookkeeping(cfg))
    try:
        held = lock(folder)
    except FolderBusy as error:
        _single_run.created.remove_if_no_results(_single_run.bookkeeping)
        raise UsageError(str(error)) from None
    sys.argv = [sys.argv[0], *command.argv([f"hydra.run.dir={_quote(str(folder))}"])]
    try:
        _run()
    except KeyboardInterrupt:
        _single_run.created.remove_if_no_results(_single_run.bookkeeping)
        if folder.is_dir():
            print(f"interrupted; run the same command again to resume from the last evaluation point ({folder})")
        else:
            print("interrupted before the first evaluation point; nothing was kept")
        return INTERRUPTED
    finally:
        unlock(held)
        _single_run = None
    return 0


def _fail(message: str) -> None:
    print(f"epinet-al: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _run_single(cfg: DictConfig, output_dir: Path) -> float:
    from epinet_al.experiment import run_experiment

    try:
        summary = run_experiment(to_experiment_config(cfg), output_dir)
    except Exception as error:
        if _debug() or not _is_user_error(error):
            raise
        if _single_run is not None:  # the run wrote no result: take back its folder (if it made it)
            _single_run.created.remove_if_no_results(_single_run.bookkeeping)
        _fail(one_line(error))
    print(f"{output_dir}: {result_line(summary)}")
    return summary["final"][summary["metric"]["name"]]


def _is_user_error(error: BaseException) -> bool:
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    return isinstance(error, (*USER_ERRORS, MisconfigurationException))


# ---------------------------------------------------------------- multirun


@dataclasses.dataclass
class _Job:
    overrides: list[str]
    label: str
    folder: Path | None = None  # None: the job's config cannot be composed
    invalid: str | None = None  # the one-line reason its config is refused


def _plan_sweep(command: Command) -> tuple[Path, Command, list[str], list[_Job]] | None:
    """The sweep folder, the command Hydra gets (with its pinned hydra overrides) and every job of the
    grid, each composed and checked; None when the sweeper is not Hydra's basic one."""
    with command.composer() as compose_job:
        sweeper = compose_job([]).hydra.sweeper
        if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
            return None  # an optimising sweeper chooses its jobs as it goes
        params = {str(k): str(v) for k, v in (sweeper.get("params") or {}).items()}
        groups = set(group_options(CONFIG_DIR))
        command = dataclasses.replace(
            command, overrides=force_add_keys_of_swept_groups(command.overrides, params, groups)
        )
        grid: Grid | None = expand(params, command.overrides)
        if grid is None:
            return None
        parsed = zip(command.overrides, parse(command.overrides), strict=True)
        master = compose_job([text for text, override in parsed if not override.is_sweep_override()])
        sweep_dir = Path(os.path.abspath(str(master.hydra.sweep.dir)))
        # The job folder's name holds every swept key besides those already in its path (and seed).
        exclude = [*master.hydra.job.config.override_dirname.exclude_keys, *grid.fixed]
        pinned = [
            f"hydra.sweep.dir={_quote(str(sweep_dir))}",
            f"hydra.job.config.override_dirname.exclude_keys=[{','.join(_quote(k) for k in dict.fromkeys(exclude))}]",
        ]
        jobs = []
        for overrides in grid.jobs:
            job = _Job(overrides, grid.label(overrides))
            try:
                cfg = compose_job([*pinned, *overrides])
                job.folder = Path(os.path.abspath(os.path.join(sweep_dir, str(cfg.hydra.sweep.subdir))))
                _experiment_config(cfg)
            except _CONFIG_ERRORS as error:
                if _debug():
                    raise
                job.invalid = str(_config_error(error))
            jobs.append(job)
    return sweep_dir, command, pinned, jobs


def run_sweep(command: Command) -> int:
    try:
        planned = _plan_sweep(command)
    except _CONFIG_ERRORS as error:
        if _debug():
            raise
        raise _config_error(error) from None
    if planned is None:
        _run()
        return 0
    sweep_dir, command, pinned, jobs = planned
    # A job Hydra cannot compose would stop the launcher before any job runs: refuse the command.
    uncomposable = list(dict.fromkeys(job.invalid for job in jobs if job.invalid and job.folder is None))
    if uncomposable:
        for reason in uncomposable[:-1]:
            print(f"epinet-al: error: {reason}", file=sys.stderr)
        raise UsageError(uncomposable[-1])
    seen: dict[Path, _Job] = {}
    for job in jobs:
        if job.folder in seen:  # a hydra.sweep.subdir of the user's that leaves out a swept key
            raise UsageError(f"jobs {seen[job.folder].label} and {job.label} would write one folder, {job.folder}")
        seen[job.folder] = job
    invalid = [job for job in jobs if job.invalid]
    for job in invalid:
        print(f"epinet-al: invalid job {job.label}: {job.invalid}", file=sys.stderr)
    if invalid and len(invalid) == len(jobs):
        raise UsageError(invalid[0].invalid if len(jobs) == 1 else f"all {len(jobs)} jobs are invalid")
    if invalid:
        print(
            f"epinet-al: {len(invalid)} of {len(jobs)} jobs are invalid (they fail at once); the others run",
            file=sys.stderr,
        )
    if all(_is_finished(job.folder) for job in jobs):
        print(f"all {len(jobs)} jobs in {sweep_dir} are complete; compare them: epinet-al-report {sweep_dir}")
        return 0
    _check_writable(sweep_dir)
    try:
        held = lock(sweep_dir)
    except FolderBusy as error:
        raise UsageError(str(error)) from None
    sys.argv = [sys.argv[0], *command.argv(pinned)]
    debug = _debug()
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    # Hydra prints an error it catches (a launcher's) as a traceback and exits 1; with
    # HYDRA_FULL_ERROR=1 it raises it, so it can be reported here in one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        _run()
    except KeyboardInterrupt:
        print(f"interrupted; run the same command again with hydra.sweep.dir={sweep_dir} to finish the sweep")
        return INTERRUPTED
    except Exception as error:
        if debug or not isinstance(error, USER_ERRORS):
            raise
        _fail(f"the sweep could not run: {one_line(error)}")
    finally:
        unlock(held)
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error
    return _report_sweep(sweep_dir, jobs)


def _report_sweep(sweep_dir: Path, jobs: list[_Job]) -> int:
    """One line per failed job and the totals; the report command when every job finished."""
    failed = [job for job in jobs if not _is_finished(job.folder)]
    print(f"epinet-al: {len(jobs) - len(failed)} finished, {len(failed)} failed ({sweep_dir})", file=sys.stderr)
    for job in failed:
        reason = error_reason(job.folder) or "no result (the job stopped before writing summary.json)"
        print(f"epinet-al: failed job {job.label}: {reason}", file=sys.stderr)
    if failed:
        print(
            f"fix the cause and run the same command with hydra.sweep.dir={sweep_dir}: finished jobs are kept, "
            "the others run again",
            file=sys.stderr,
        )
        return 1
    print(f"compare the runs: epinet-al-report {sweep_dir}")
    return 0


def _is_finished(folder: Path) -> bool:
    try:
        return finished_summary(folder) is not None
    except ValueError:
        return False  # a summary.json cut short: the job runs again


def _launched_rank() -> int:
    """This task's rank in a job whose processes srun or torchrun started (a data-parallel job), else 0."""
    return int(os.environ.get("SLURM_PROCID", os.environ.get("RANK", "0")))


def _run_sweep_job(cfg: DictConfig, output_dir: Path) -> float | None:
    """One job of a multirun: a finished job is left as it is; a failing job writes error.txt, logs one
    line and returns, so that the launcher goes on with the next job.

    Every task of a data-parallel SLURM job runs this; the first holds the folder's lock and writes it.
    """
    first = _launched_rank() == 0
    try:
        held = lock(output_dir) if first else None
    except FolderBusy as error:
        log.error("%s", error)
        return None
    try:
        summary = finished_summary(output_dir)
        if summary is None:
            from epinet_al.experiment import run_experiment

            if first:
                (output_dir / ERROR_FILE).unlink(missing_ok=True)
            experiment = to_experiment_config(cfg)  # an invalid job fails before its data is read
            summary = run_experiment(experiment, output_dir)
            print(f"{output_dir}: {result_line(summary)}")
        else:
            print(f"{output_dir} is complete: {result_line(summary)}")
        return summary["final"][summary["metric"]["name"]]
    except Exception as error:
        reason = one_line(error)
        if first:
            write_error(output_dir, reason, error)
        log.error("job failed: %s (%s)", reason, output_dir)
        return None
    finally:
        if held is not None:
            unlock(held)


# ---------------------------------------------------------------- the Hydra entry point


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _run(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return _run_sweep_job(cfg, output_dir)
    return _run_single(cfg, output_dir)


def main() -> None:
    try:
        args, command = parse_command(sys.argv[1:])
        check_group_choices(args.overrides, group_options())
        if args.version:
            from importlib.metadata import version

            print(f"epinet-al {version('epinet-al')}")
            return
        if command is None:
            _run()  # --help, --cfg, shell completion: Hydra as it is
            return
        code = run_sweep(command) if command.multirun else run_one(command)
    except UsageError as error:
        _fail(str(error))
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
