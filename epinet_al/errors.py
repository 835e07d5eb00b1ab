"""How the command reports a failure: one line naming the bad value, and an exit status.

Bad input ends with ``epinet-al: error: <one line>`` on stderr and exit status 2; a program error keeps its
traceback. Set HYDRA_FULL_ERROR=1 (or EPINET_AL_DEBUG=1) to get the traceback of bad input too.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

# Exceptions that mean "the input (or the disk, or the machine) is wrong", not "the program is wrong".
# OSError covers a missing file, a full disk or a lost mount while results are written; RuntimeError
# is what Lightning and torch raise for a device that is not there (`trainer=gpu` on a CPU machine)
# and what submitit raises when the SLURM controller cannot be reached.
USER_ERRORS = (ValueError, OSError, FloatingPointError, RuntimeError)
BAD_INPUT = 2
INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C (128 + SIGINT)


class UsageError(Exception):
    """Bad command-line input, reported in one line."""


def debug() -> bool:
    """Whether to show the traceback of bad input as well."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("EPINET_AL_DEBUG") == "1"


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


def stop(message: str, code: int = BAD_INPUT) -> NoReturn:
    """End the command with ``message`` as its one error line (SystemExit passes through Hydra untouched)."""
    print(f"epinet-al: error: {message}", file=sys.stderr)
    raise SystemExit(code)
