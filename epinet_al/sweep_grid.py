"""The jobs of a multirun (`-m`), expanded as Hydra's basic sweeper expands them, without running any.

The grid is the cartesian product of every swept key's values, from the primary config's
``hydra.sweeper.params`` and the command line (the command line wins for a key given in both).
Only Hydra's public override parser is used.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

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


def parse(overrides: list[str]) -> list[Override]:
    return OverridesParser.create().parse_overrides(overrides)


def expand(params: dict[str, str], overrides: list[str]) -> Grid | None:
    """The grid of ``params`` (the sweep file's) and ``overrides`` (the command line's task overrides);
    None for a sweep that is not a list of values (an interval for an optimising sweeper)."""
    values: dict[str, list[str]] = {}
    swept: dict[str, bool] = {}
    names: dict[str, str] = {}  # the key without its +, ++ or ~ (as override_dirname.exclude_keys takes it)
    for override in parse([f"{key}={value}" for key, value in params.items()] + overrides):
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


def force_add_keys_of_swept_groups(overrides: list[str], params: dict[str, str], groups: set[str]) -> list[str]:
    """``task.max_pool_size=200`` becomes ``++task.max_pool_size=200`` when ``task`` is swept.

    Hydra composes a multirun's base config with the default option of every swept group before
    any job (testbed for `task=sst2,cola`), and a key that only the swept options have fails there.
    With ``++`` the base config takes the key whatever it is; each job is composed with its own
    option, and its config is checked on its own (a key its option lacks makes that job invalid).
    """
    swept_groups = {
        override.key_or_group
        for override in parse([f"{key}={value}" for key, value in params.items()] + overrides)
        if override.is_sweep_override() and override.key_or_group in groups
    }
    rewritten = []
    for text, override in zip(overrides, parse(overrides), strict=True):
        group = override.key_or_group.split(".", 1)[0]
        prefixed = override.is_add() or override.is_force_add() or override.is_delete()
        plain = not (override.is_sweep_override() or prefixed)
        in_swept_group = "." in override.key_or_group and group in swept_groups and override.package is None
        rewritten.append(f"++{text}" if plain and in_swept_group else text)
    return rewritten
