"""The acquisition options: the priority names with their capabilities, and the group's config (torch-free).

The priority functions themselves are in ``priorities.py`` and ``epig.py`` under the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from epinet_al.registry import PrioritySpec, Registry, check_choice, check_positive

SELECTIONS = ("topk", "softmax", "power", "softrank")

PRIORITY_SPECS = Registry(
    "priority",
    [
        PrioritySpec("uniform", needs_index=False, regression=True),
        PrioritySpec("entropy", needs_index=False),
        PrioritySpec("margin", needs_index=False),
        PrioritySpec("var_ratios", needs_index=False),
        PrioritySpec("bald", needs_index=True),
        PrioritySpec("variance", needs_index=True, regression=True),
        PrioritySpec("epig", needs_index=True, needs_targets=True),
    ],
    plural="priorities",
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
