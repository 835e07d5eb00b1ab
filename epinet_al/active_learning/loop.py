"""What a protocol drives: the agent, the pool behind its ledger, the priority, and the bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from epinet_al.acquisition.priorities import Priority
from epinet_al.acquisition.specs import AcquisitionConfig
from epinet_al.active_learning import distributed
from epinet_al.active_learning.agent import Agent
from epinet_al.active_learning.checkpoint import Checkpointer
from epinet_al.active_learning.diagnostics import SelectionDiagnostics
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.sampling import draw_targets
from epinet_al.data.inputs import Inputs
from epinet_al.tasks.task import Evaluator

# Called with (step, num_labels, metrics) at every evaluation point.
Recorder = Callable[[int, int, dict[str, float]], None]


@dataclass
class Loop:
    """One run's acquisition context, shared by every protocol.

    ``generator`` is the run's acquisition stream (candidate draws, random scores, stochastic selection,
    targets, minibatch order); ``seed``, the run's seed, keys the subset protocol's fits (``seeding.fit_seed``).
    With a ``checkpoint``, every evaluation point saves the run's state and ``restore`` continues a saved one.
    With ``diagnostics``, every evaluation point adds the selection diagnostics (``pool/...``,
    ``<split>/spread_change``) to the held-out metrics.
    """

    agent: Agent
    pool: Inputs
    ledger: LabelLedger
    priority: Priority
    needs_targets: bool
    acquisition: AcquisitionConfig
    evaluator: Evaluator
    record: Recorder
    generator: torch.Generator
    seed: int
    checkpoint: Checkpointer | None = None
    diagnostics: SelectionDiagnostics | None = None
    progress_bar: bool = True

    def restore(self) -> dict[str, Any] | None:
        """The saved loop state of a run being resumed (every other part restored), or None."""
        return self.checkpoint.restore() if self.checkpoint else None

    def targets(self) -> Any | None:
        """Target inputs for a priority that needs them (epig), None for the others."""
        if not self.needs_targets:
            return None
        return draw_targets(self.pool, self.ledger, self.acquisition.num_targets, self.generator)

    def evaluation_point(self, step: int, extra: dict[str, float], loop_state: dict[str, Any]) -> None:
        """Evaluate, record the curve row (with ``extra`` metrics and the L2 weight), save the state.

        In a data-parallel run rank 0 does this alone (every rank holds the same model and ledger, checked
        here) while the others wait for it.
        """
        fabric = self.agent.fabric
        distributed.check_same_ledger(fabric, self.ledger)
        if fabric.is_global_zero:
            metrics = self.agent.evaluate(self.evaluator)
            if self.diagnostics:
                metrics.update(self.diagnostics(self.ledger, metrics))
            metrics.update(extra)
            metrics["train/l2_weight"] = self.agent.l2_weight
            self.record(step, self.ledger.num_labels, metrics)
            if self.checkpoint:
                self.checkpoint.save(loop_state)
        fabric.barrier()
