"""The `epinet-al` command: compose the Hydra config, convert it once, run the experiment.

Bad input ends with one line on stderr naming the bad value (and the valid choices where there
are any) and exit status 2. Set HYDRA_FULL_ERROR=1 (or EPINET_AL_DEBUG=1) to get the traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig

from epinet_al.config import to_experiment_config
from epinet_al.experiment import run_experiment

# conf/ sits at the top of the repository, next to the package (installed in editable mode).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
# Groups that are chosen by their own mechanism, not by the user as `group=option`.
_INTERNAL_GROUPS = {"hydra", "task_head"}
# Exceptions that mean "the input is wrong", not "the program is wrong".
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, FloatingPointError)


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
        _fail(str(error), output_dir)
    # The primary metric's final value: what a Hydra sweeper (e.g. Optuna) would optimise.
    return summary["final"][summary["metric"]["name"]]


def main() -> None:
    try:
        check_group_choices(sys.argv[1:], group_options())
    except UsageError as error:
        _fail(str(error))
    _run()


if __name__ == "__main__":
    main()
