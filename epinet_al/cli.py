"""The `epinet-al` command: compose the Hydra config, convert it once, run the experiment.

Bad input ends with one line on stderr naming the bad value (and the valid choices where there
are any) and exit status 2. Set HYDRA_FULL_ERROR=1 (or EPINET_AL_DEBUG=1) to get the traceback.
What can be checked from the command line alone (group options, the composed config of every job,
the output folder, a resume folder's config) is checked before Hydra runs, so such errors leave no
run folder behind and never touch an existing one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import hydra
from hydra._internal.hydra import Hydra
from hydra._internal.utils import (
    create_automatic_config_search_path,
    detect_calling_file_or_module_from_task_function,
    detect_task_name,
    get_args_parser,
)
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from epinet_al.active_learning.checkpoint import STATE_FILE, check_resumable
from epinet_al.config import ExperimentConfig, to_experiment_config
from epinet_al.experiment import check_names, run_experiment

# conf/ sits at the top of the repository, next to the package (installed in editable mode).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
# Groups that are chosen by their own mechanism, not by the user as `group=option`.
_INTERNAL_GROUPS = {"hydra", "task_head"}
# Exceptions that mean "the input (or the disk) is wrong", not "the program is wrong". OSError covers
# a missing file, a full disk or a lost mount while results are written.
USER_ERRORS = (ValueError, OSError, FloatingPointError)
# Hydra commands that show something instead of running jobs: only the group options are checked.
_SHOW_COMMANDS = ("help", "hydra_help", "cfg", "info", "shell_completion", "experimental_rerun")


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
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        return  # a syntax error: Hydra's own message says where
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
        line = next((line.strip() for line in str(cause).splitlines() if line.strip()), "")
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and isinstance(cause.parent_node, DictConfig):
            line += f"; valid keys: {', '.join(map(str, cause.parent_node.keys()))}"
        if line and not any(line in part for part in parts):  # a cause the message already quotes adds nothing
            parts.append(line)
        cause = cause.__cause__
    parts = parts or [type(error).__name__]
    return ": ".join([part.removesuffix(".") for part in parts[:-1]] + parts[-1:])


def _job_overrides(overrides: list[str]) -> list[list[str]] | None:
    """Override lists of single jobs that together use every value of every sweep on the command line.

    Each sweep's values are tried with the first value of the others (not the whole product): a bad
    value fails alone. None if a sweep cannot be enumerated (e.g. an interval for an optimising sweeper).
    """
    parsed = OverridesParser.create().parse_overrides(overrides)
    try:
        sweeps = {i: list(o.sweep_string_iterator()) for i, o in enumerate(parsed) if o.is_sweep_override()}
    except HydraException:
        return None
    if not all(sweeps.values()):
        return None

    def job(choice: dict[int, str]) -> list[str]:
        return [f"{o.get_key_element()}={choice[i]}" if i in sweeps else overrides[i] for i, o in enumerate(parsed)]

    first = {i: values[0] for i, values in sweeps.items()}
    return [job(first)] + [job({**first, i: value}) for i, values in sweeps.items() for value in values[1:]]


def _hydra(args: argparse.Namespace) -> Hydra:
    """A Hydra instance with the search path `_run` gets (Hydra's own steps in hydra.main)."""
    calling_file, calling_module = detect_calling_file_or_module_from_task_function(_run)
    search_path = create_automatic_config_search_path(calling_file, calling_module, args.config_path or str(CONFIG_DIR))
    if args.config_dir is not None:
        config_dir = os.path.abspath(args.config_dir)
        if not os.path.isdir(config_dir):
            raise UsageError(f"--config-dir {config_dir} is not a folder")
        search_path.prepend("command-line", f"file://{config_dir}", anchor=SearchPathQuery(provider="schema"))
    return Hydra.create_main_hydra2(detect_task_name(calling_file, calling_module), search_path)


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
    _check_writable(folder)
    try:
        resumable = check_resumable(folder, dataclasses.asdict(cfg))
    except ValueError as error:
        raise UsageError(str(error)) from None
    if cfg.resume and not resumable:
        raise UsageError(f"nothing to resume in {folder}: it has no {STATE_FILE}")


def _output_folder(cfg: DictConfig, multirun: bool) -> Path | None:
    """The run folder (the sweep folder with -m) as Hydra will resolve it; None if it cannot tell yet."""
    HydraConfig.instance().set_config(cfg)  # for ${hydra:...} in the folder's name
    try:
        return Path(str(OmegaConf.select(cfg, "hydra.sweep.dir" if multirun else "hydra.run.dir")))
    except OmegaConfBaseException:
        return None  # Hydra reports it when the run starts


def check_command_line(argv: list[str]) -> None:
    """Compose and convert the config of every job as the run will, and check the output folder."""
    args = get_args_parser().parse_args(argv)
    check_group_choices(args.overrides, group_options())
    if any(getattr(args, command) for command in _SHOW_COMMANDS):
        return
    try:
        jobs = _job_overrides(args.overrides) if args.multirun else [args.overrides]
    except HydraException:
        return  # a syntax error: Hydra's own message says where
    if jobs is None:
        return
    hydra_app = _hydra(args)
    try:
        for overrides in jobs:
            cfg = hydra_app.compose_config(args.config_name or "config", overrides, run_mode=RunMode.RUN)
            folder = _output_folder(cfg, args.multirun)
            with open_dict(cfg):
                del cfg["hydra"]  # as Hydra does before calling the task function
            experiment = to_experiment_config(cfg)
            check_names(experiment)
        # Every job shares the sweep folder; a single run checks its own folder (or resume folder).
        if folder is not None and args.multirun:
            _check_writable(folder)
        elif folder is not None:
            _check_run_folder(folder, experiment)
    except (HydraException, OmegaConfBaseException, TypeError, ValueError) as error:
        if _debug():
            raise
        where = f"cannot parse {error.override!r}: " if isinstance(error, OverrideParseException) else ""
        raise UsageError(where + one_line(error)) from None
    finally:
        GlobalHydra.instance().clear()


def _fail(message: str, output_dir: Path | None = None) -> None:
    """Report a bad input in one line; remove the run folder if the run wrote nothing of its own."""
    if output_dir is not None and output_dir.is_dir():
        ours = [p for p in output_dir.iterdir() if p.name not in (".hydra", "epinet-al.log", "cli.log")]
        if not ours:
            for path in sorted(output_dir.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            output_dir.rmdir()
    print(f"epinet-al: error: {message}", file=sys.stderr)
    raise SystemExit(2)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _run(cfg: DictConfig) -> float:
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = run_experiment(to_experiment_config(cfg), output_dir)
    except USER_ERRORS as error:
        if _debug():
            raise
        _fail(one_line(error), output_dir)
    # The primary metric's final value: what a Hydra sweeper (e.g. Optuna) would optimise.
    return summary["final"][summary["metric"]["name"]]


def main() -> None:
    try:
        check_command_line(sys.argv[1:])
    except UsageError as error:
        _fail(str(error))
    _run()


if __name__ == "__main__":
    main()
