"""The acquisition options: the priorities (name, function, capabilities) and the group's config (torch-free).

``PRIORITY_SPECS`` is the one registry of priorities: each spec names its function (in ``priorities.py`` or
``epig.py``, imported when a run scores) and its regression form, if it has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from epinet_al.registry import PrioritySpec, Registry, check_choice, check_positive

SELECTIONS = ("topk", "softmax", "power", "softrank")
_P = "epinet_al.acquisition.priorities"

PRIORITY_SPECS = Registry(
    "priority",
    [
        PrioritySpec("uniform", f"{_P}:uniform", needs_index=False, regression_function=f"{_P}:uniform"),
        PrioritySpec("entropy", f"{_P}:entropy", needs_index=False),
        PrioritySpec("margin", f"{_P}:margin", needs_index=False),
        PrioritySpec("var_ratios", f"{_P}:var_ratios", needs_index=False),
        PrioritySpec("bald", f"{_P}:bald", needs_index=True),
        PrioritySpec("variance", f"{_P}:variance", needs_index=True, regression_function=f"{_P}:output_variance"),
        PrioritySpec("epig", "epinet_al.acquisition.epig:epig", needs_index=True, needs_targets=True),
    ],
    plural="priorities",
)


def not_for_regression(name: str) -> ValueError:
    """The error for priority ``name`` on a regression task, when it has no regression form."""
    valid = ", ".join(spec.name for spec in PRIORITY_SPECS.specs() if spec.regression)
    return ValueError(
        f"priority {name!r} needs class probabilities and does not apply to a regression task; "
        f"valid priorities for regression: {valid}"
    )


# Priorities that are identically zero for a model without an epistemic index.
EPISTEMIC_PRIORITIES = frozenset(spec.name for spec in PRIORITY_SPECS.specs() if spec.needs_index)
# Priorities called with ``target_logits=``: the loops draw target inputs for them.
TARGET_PRIORITIES = frozenset(spec.name for spec in PRIORITY_SPECS.specs() if spec.needs_targets)


@dataclass
class AcquisitionConfig:
    """Which priority function scores the candidates, from how many index samples (A)."""

    priority: str = MISSING
    # A: index samples per scoring call (variance and bald: 3,000, conf/acquisition/*.yaml).
    num_index_samples: int = 100
    # true: one set of num_index_samples indices, drawn when the run starts (saved with it), scores every call,
    # as the reference's make_batch_fwd does: a candidate's score then changes only when the model does.
    # false: a fresh set per call from the run's index stream. (docs/heads_and_priorities.md)
    fixed_index: bool = True
    # How scores become a batch: "topk", or a stochastic order ("softmax", "power", "softrank").
    selection: str = "topk"
    temperature: float = 1.0
    # Target inputs for priorities that need them (epig): drawn from the unlabeled pool per scoring call.
    num_targets: int = 100

    def __post_init__(self) -> None:
        if self.priority != MISSING:
            PRIORITY_SPECS.get(self.priority)
        check_choice("acquisition", "selection", self.selection, SELECTIONS)
        check_positive(self, "acquisition", "num_index_samples", "num_targets", "temperature")
