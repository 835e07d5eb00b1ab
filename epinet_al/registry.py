"""The component registries: one spec per pluggable option (head, priority, task, model, protocol).

A spec names its config dataclass, its builder and its capabilities, so everything else (the config
schemas, the builders' dispatch, the compose-time checks) is derived from it. Specs and configs are
torch-free: a builder is a ``"module:attribute"`` path imported only when a run builds the component,
so composing and checking a config (``epinet-al --help``, a sweep's pre-flight) never imports torch.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from omegaconf import MISSING

S = TypeVar("S")


class Registry(Generic[S]):
    """Specs by name; an unknown name is a ValueError listing the valid ones."""

    def __init__(self, kind: str, specs: Iterable[S], plural: str | None = None):
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._specs: dict[str, S] = {spec.name: spec for spec in specs}  # type: ignore[attr-defined]

    def get(self, name: str) -> S:
        if name not in self._specs:
            raise ValueError(f"unknown {self.kind} {name!r}; valid {self.plural}: {', '.join(self._specs)}")
        return self._specs[name]

    def of(self, config: Any) -> S:
        """The spec whose config class ``config`` is an instance of."""
        for spec in self._specs.values():
            if type(config) is spec.config:  # type: ignore[attr-defined]
                return spec
        raise TypeError(f"{type(config).__name__} is not a {self.kind} config")

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def specs(self) -> list[S]:
        return list(self._specs.values())


def load(path: str) -> Callable[..., Any]:
    """The object at ``"package.module:Name.attr"``, imported now (builders are referenced lazily)."""
    module, _, attribute = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


@dataclass(frozen=True)
class L2Rule:
    """A head's ``head.l2_scale`` on features wider than the reference recipe's (``networks.specs.rule_l2_scale``):
    ``tuned`` is the scale chosen on 384-d features (MiniLM), carried to width D as tuned * (384 / D)^exponent,
    with ``exponent`` the power of D in the head's s(N) (1 for sqrt(rho) D / N, 0.7 for 0.2 (D / N)^0.7), so
    that the weight l2_scale * s(N) is the tuned one at every N."""

    tuned: float
    exponent: float


@dataclass(frozen=True)
class HeadSpec:
    name: str
    config: type
    build: str  # (cfg, feature_dim, num_outputs) -> Head
    has_index: bool  # outputs vary with the epistemic index (bald, variance and epig are not 0)
    body_per_index: bool = False  # re-runs the body once per index sample: needs an encoder that trains
    # head.l2_scale=null on features wider than the reference's; None: such a run needs head.l2_scale given.
    l2_rule: L2Rule | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config: type
    input_kind: str  # what the model reads: "vectors" or "text"
    options: str  # the conf/model options with this schema, for messages


@dataclass(frozen=True)
class TaskSpec:
    name: str
    config: type
    build: str  # (cfg, model_cfg, eval_cfg, device) -> ActiveLearningTask
    input_kind: str  # what the task's inputs are: "vectors" or "text"


@dataclass(frozen=True)
class PrioritySpec:
    name: str
    function: str  # (logits [A, B, C], generator=None) -> scores [B]
    needs_index: bool  # identically 0 without an epistemic index
    needs_targets: bool = False  # called with target_logits=: the loops draw target inputs
    # Its form on a regression model's outputs [A, B, 1] (STS-B); None: it needs class probabilities.
    regression_function: str | None = None

    @property
    def regression(self) -> bool:
        return self.regression_function is not None


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    config: type
    run: str  # (loop, budget: config) -> None


# ---------------------------------------------------------------- field checks for __post_init__
# Called from the config dataclasses, which OmegaConf.to_object constructs: the checks run at compose time.
# A field still MISSING or an unresolved interpolation (a default_factory instance) is not checked yet.


def _unset(value: Any) -> bool:
    return value is MISSING or value == MISSING or (isinstance(value, str) and value.startswith("${"))


def check_positive(config: Any, group: str, *fields: str) -> None:
    for key in fields:
        value = getattr(config, key)
        if not _unset(value) and value <= 0:
            raise ValueError(f"{group}.{key} must be positive, got {value}")


def check_at_least(config: Any, group: str, bound: float, note: str, *fields: str) -> None:
    for key in fields:
        value = getattr(config, key)
        if not _unset(value) and value < bound:
            raise ValueError(f"{group}.{key} must be >= {bound} ({note}), got {value}")


def check_choice(group: str, key: str, value: Any, choices: Iterable[str]) -> None:
    choices = list(choices)
    if not _unset(value) and value not in choices:
        raise ValueError(f"unknown {group}.{key} {value!r}; valid choices: {', '.join(choices)}")


def check_finite(node: Any, key: str = "") -> None:
    """Refuse nan and inf anywhere in a composed config (every float of every schema, and the floats of open
    mappings such as ``trainer.optimizer``), naming the dotted key. Range checks cannot catch them: every
    comparison with nan is false, and inf passes every lower bound."""
    if isinstance(node, Mapping):
        for child, value in node.items():
            check_finite(value, f"{key}.{child}" if key else str(child))
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            check_finite(value, f"{key}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ValueError(f"{key}={node} is not a finite number; give {key} a finite value")


def check_seed(group: str, key: str, value: Any) -> None:
    name = f"{group}.{key}" if group else key
    if not _unset(value) and not 0 <= value <= 2**32 - 1:
        raise ValueError(f"{name}={value} is out of range; valid seeds: 0..{2**32 - 1}")
