"""What tests need to know about heads and priorities, derived from their specs (capabilities, never names).

A new head or priority (a spec, a module, a YAML file) is then covered by the tests that compose every option
or run every priority with every head, without editing them (tests/test_extension.py checks exactly this).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from epinet_al.acquisition.specs import PRIORITY_SPECS
from epinet_al.networks.specs import HEADS

# The options a context picks when a capability asks for one (the first in registry order).
MARGINAL_PRIORITY = next(spec.name for spec in PRIORITY_SPECS.specs() if not spec.needs_index)
# A pair task read by an encoder that trains (model=tiny: random, offline, fast).
TRAINING_ENCODER = ["task=rte", "model=tiny"]


def head_context(name: str) -> list[str]:
    """The other options a run with head ``name`` needs, from its capabilities: a head without an index
    scores with a marginal priority (the default, variance, needs one); a head whose index changes the body
    needs an encoder that trains."""
    spec = HEADS.get(name)
    context = [*TRAINING_ENCODER] if spec.body_per_index else []
    if not spec.has_index:
        context.append(f"acquisition={MARGINAL_PRIORITY}")
    return context


def marginal_priorities() -> list[str]:
    return [spec.name for spec in PRIORITY_SPECS.specs() if not spec.needs_index]


def indexed_heads() -> list[str]:
    """The heads with an index that run on any features (not only on an encoder that trains)."""
    return [spec.name for spec in HEADS.specs() if spec.has_index and not spec.body_per_index]


def regression_priorities() -> list[str]:
    return [spec.name for spec in PRIORITY_SPECS.specs() if spec.regression]


@dataclass(frozen=True)
class Listing:
    """An expected message: a fixed prefix, then every name of a registry-derived list (in any wording)."""

    prefix: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, prefix: str, *lists: Iterable[str]) -> Listing:
        return cls(prefix, tuple(name for names in lists for name in names))

    def matches(self, text: str) -> bool:
        rest = text[len(self.prefix) :]
        return text.startswith(self.prefix) and all(re.search(rf"\b{re.escape(n)}\b", rest) for n in self.names)


def epistemic_on_plain_head(priority: str, head: str) -> Listing:
    """The refusal of an epistemic priority on a head without an index: it names the heads and priorities
    that would work."""
    return Listing.of(
        f"priority {priority!r} needs a head with an epistemic index, but head {head!r} has none",
        indexed_heads(),
        marginal_priorities(),
    )
