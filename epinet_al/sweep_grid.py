"""The jobs of a multirun (`-m`), expanded as Hydra's basic sweeper expands them, without running any.

The grid is the cartesian product of every swept key's values, from the primary config's
``hydra.sweeper.params`` and the command line (the command line wins for a key given in both).
Only Hydra's public override parser is used.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override


@dataclass(frozen=True)
class Grid:
    """Every job's overrides, in launch order; ``swept``: the keys whose values change between jobs;
    ``fixed``: the keys given one value (on the command line or in the sweep file); keys without their
    ``+``/``++``/``~`` prefix."""

    jobs: list[list[str]]
    swept: list[str]
    fixed: list[str]

    def label(self, job: list[str]) -> str:
        """The part of a job's overrides that tells it apart from the other jobs."""
        swept = [text for text, override in zip(job, parse(job), strict=True) if override.key_or_group in self.swept]
        return " ".join(swept) or "(the only job)"


def parse(overrides: list[str], config_loader: ConfigLoader | None = None) -> list[Override]:
    """Hydra's parse of command-line overrides; with a ``config_loader``, ``glob()`` lists a group's options."""
    return OverridesParser.create(config_loader=config_loader).parse_overrides(overrides)


def expand(params: dict[str, str], overrides: list[str], config_loader: ConfigLoader | None = None) -> Grid | None:
    """The grid of ``params`` (the sweep file's) and ``overrides`` (the command line's task overrides);
    None for a sweep that is not a list of values (an interval for an optimising sweeper)."""
    values: dict[str, list[str]] = {}
    swept: dict[str, bool] = {}
    names: dict[str, str] = {}  # the key without its +, ++ or ~ (as override_dirname.exclude_keys takes it)
    for override in parse([f"{key}={value}" for key, value in params.items()] + overrides, config_loader):
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                return None
            values[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
            swept[key] = True
        else:
            values[key] = [f"{key}={override.get_value_element_as_str()}"]
            swept[key] = False
        names[key] = override.key_or_group
    jobs = [list(job) for job in itertools.product(*values.values())]
    return Grid(jobs, [names[k] for k in values if swept[k]], [names[k] for k in values if not swept[k]])
