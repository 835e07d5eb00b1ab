"""The `epinet-al` command: Hydra's entry point (``hydra.main``) and what it does before Hydra starts.

The checks around runs and sweeps (a run folder that is finished, busy or resumable, a sweep's grid, error
files, the end-of-sweep summary) are Hydra callbacks, ``epinet_al.hydra_callbacks``, registered in
conf/config.yaml; what a job does in its folder is ``epinet_al.jobs``. Here, before Hydra runs:
- the options of a config group and the config itself are checked, so that a bad value ends in one line,
  ``epinet-al: error: ...``, exit status 2 (Hydra would print it with exit status 1);
- ``--help`` lists the config groups from the files under conf/ (Hydra lists them by composing every option);
- ``resume=<folder>`` alone runs the folder's own command again: its recorded overrides and primary config,
  the given overrides on top.

Nothing here imports torch or Lightning at module level: `--help`, `--cfg` and shell completion start in
about a second; the experiment is imported when a run starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import string
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from epinet_al.errors import INTERRUPTED, UsageError, debug, one_line, stop
from epinet_al.jobs import run_single, run_sweep_job
from epinet_al.paths import CONFIG_DIR
from epinet_al.sweep_grid import parse

# Groups that are chosen by their own mechanism, not by the user as `group=option`.
_INTERNAL_GROUPS = frozenset({"hydra", "task_head"})
# Hydra options that show something instead of running jobs: the command goes to Hydra unchanged.
_SHOW_OPTIONS = ("hydra_help", "cfg", "info", "shell_completion", "experimental_rerun")
_CONFIG_ERRORS = (HydraException, OmegaConfBaseException, TypeError, ValueError)


def group_options(config_dir: Path = CONFIG_DIR) -> dict[str, list[str]]:
    """The user-selectable config groups and their options (`budget/paper/sst2.yaml` is `paper/sst2`)."""
    return {
        group.name: sorted(path.relative_to(group).with_suffix("").as_posix() for path in group.rglob("*.yaml"))
        for group in sorted(config_dir.iterdir())
        if group.is_dir() and group.name not in _INTERNAL_GROUPS
    }


def check_group_choices(overrides: list[str], options: dict[str, list[str]]) -> None:
    """Refuse `group=option` overrides naming an option that does not exist (sweeps included)."""
    try:
        parsed = parse([arg for arg in overrides if "=" in arg])
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


def _config_error(error: BaseException) -> UsageError:
    where = f"cannot parse {error.override!r}: " if isinstance(error, OverrideParseException) else ""
    return UsageError(where + one_line(error))


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


@contextmanager
def _composer(args: argparse.Namespace) -> Iterator[Callable[..., DictConfig]]:
    """compose(overrides) -> the primary config as hydra.main composes it (Hydra's public compose API)."""
    primary, extra = (Path(args.config_path).resolve() if args.config_path else CONFIG_DIR), []
    if args.config_dir is not None:
        if not Path(args.config_dir).is_dir():
            raise UsageError(f"--config-dir {args.config_dir} is not a folder")
        # The primary config is in --config-dir; conf/ joins the search path, as with hydra.main.
        primary, extra = Path(args.config_dir).resolve(), [f"hydra.searchpath=[file://{primary}]"]
    with initialize_config_dir(config_dir=str(primary), version_base="1.3"):
        yield lambda overrides: compose(args.config_name or "config", [*extra, *overrides], return_hydra_config=True)


def _base_overrides(overrides: list[str]) -> list[str]:
    """The overrides a multirun's base config is composed with: all but the swept ones."""
    try:
        parsed = parse(overrides)
    except OverrideParseException as error:
        raise _config_error(error) from None
    return [text for text, override in zip(overrides, parsed, strict=True) if not override.is_sweep_override()]


def check_config(args: argparse.Namespace) -> None:
    """Compose the config as Hydra will, so that an error in it is one line."""
    try:
        with _composer(args) as compose_config:
            compose_config(_base_overrides(args.overrides))
    except _CONFIG_ERRORS as error:
        if debug():
            raise
        swept = {o.key_or_group for o in parse(args.overrides) if o.is_sweep_override()}
        hint = [o for o in args.overrides if "=" in o and o.split(".", 1)[0] in swept and not o.startswith("+")]
        extra = f" (a key of a swept group's options needs ++: ++{hint[0]})" if args.multirun and hint else ""
        raise UsageError(str(_config_error(error)) + extra) from None


def help_text(args: argparse.Namespace) -> str:
    """Hydra's help page (hydra.help.template), with the config groups listed from the files under conf/."""
    with _composer(args) as compose_config:
        cfg = compose_config(_base_overrides(args.overrides))
    groups = "\n".join(f"{group}: {', '.join(options)}" for group, options in group_options().items())
    config = cfg.copy()
    with open_dict(config):
        del config["hydra"]
    template = string.Template(cfg.hydra.help.template)
    return template.safe_substitute(APP_CONFIG_GROUPS=groups, CONFIG=OmegaConf.to_yaml(config, resolve=args.resolve))


def resume_command(args: argparse.Namespace, argv: list[str]) -> list[str] | None:
    """`resume=<folder>` alone: the folder's own command (.hydra/overrides.yaml and the primary config of
    .hydra/hydra.yaml), then the given arguments on top; None when the command already is that. state.pt's
    config stays the reference: a changed key other than progress_bar, logger.* and resume is refused."""
    try:
        parsed = parse([o for o in args.overrides if "=" in o])
    except HydraException:
        return None  # a syntax error: reported where the overrides are composed
    resume = next((o.value() for o in reversed(parsed) if o.key_or_group == "resume"), None)
    saved_dir = Path(str(resume)) / ".hydra"
    if not isinstance(resume, str) or not (saved_dir / "overrides.yaml").is_file():
        return None
    given = {o.key_or_group for o in parsed} | {"resume"}
    recorded = [str(o) for o in OmegaConf.load(saved_dir / "overrides.yaml")]
    saved = [text for text, o in zip(recorded, parse(recorded), strict=True) if o.key_or_group not in given]
    options = []
    if args.config_name is None and args.config_dir is None and (saved_dir / "hydra.yaml").is_file():
        job = OmegaConf.load(saved_dir / "hydra.yaml").hydra
        sources = [s.path.removeprefix("file://") for s in job.runtime.config_sources if s.provider == "command-line"]
        options = [*(["--config-dir", sources[0]] if sources else []), "--config-name", job.job.config_name]
        options = options if sources or job.job.config_name != "config" else []
    return [*options, *saved, *argv] if saved or options else None


def run_child(command: list[str]) -> int:
    """Run `epinet-al <command>` in a child process; Ctrl-C here reaches it once, and it reports it."""
    child = subprocess.Popen([sys.executable, "-m", "epinet_al", *command], start_new_session=True)
    while True:
        try:
            code = child.wait()
            return code if code >= 0 else 128 - code
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)


def _interrupted() -> str:
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        sweep_dir = os.path.abspath(str(HydraConfig.get().sweep.dir))
        return f"interrupted; run the same command again with hydra.sweep.dir={sweep_dir} to finish the sweep"
    return "interrupted"


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _task(cfg: DictConfig) -> Any:
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return run_sweep_job(cfg, output_dir)
    return run_single(cfg, output_dir)


def main() -> None:
    argv = sys.argv[1:]
    try:
        args, unknown = _parser().parse_known_args(argv)
        if args.version:
            from importlib.metadata import version

            print(f"epinet-al {version('epinet-al')}")
            return
        if args.multirun and any(getattr(args, option) for option in ("cfg", "info", "shell_completion")):
            raise UsageError("-m runs the jobs and --cfg, --info and -sc show them: give one of them")
        if not (unknown or any(getattr(args, option) for option in _SHOW_OPTIONS)):
            check_group_choices(args.overrides, group_options())
            if args.help:
                print(help_text(args))
                return
            command = resume_command(args, argv)
            if command is not None:
                raise SystemExit(run_child(command))
            check_config(args)
    except UsageError as error:
        stop(str(error))
    try:
        _task()
    except KeyboardInterrupt:
        print(_interrupted())
        raise SystemExit(INTERRUPTED) from None


if __name__ == "__main__":
    main()
