"""The selection diagnostics: does the uncertainty know what the model has seen, and does it select unlike entropy?

Measured at every evaluation point on the pool, from sets drawn once when the run starts (the run's
``diagnostics`` stream; saved in state.pt, so a point's values depend on the model and the labels only).
docs/heads_and_priorities.md ("Diagnostics that speak to selection") says how to read them:

- ``pool/spread_seen``, ``pool/spread_unseen``, ``pool/seen_unseen``: the mean spread
  (``uncertainty.input_spread``, with the run's evaluation indices) on at most ``eval.seen_inputs``
  labeled pool inputs, on as many unlabeled ones, and their ratio. The inputs are the first labeled and the
  first unlabeled ones in one random order of the pool, fixed per run. ``pool/priority_seen_unseen``: the
  same ratio of the run's priority scores (for ``variance``, the spread in probabilities).
- ``pool/far_unseen`` (``eval.far_shift`` > 0, vector inputs): the spread on those unlabeled inputs moved
  ``far_shift`` typical radii of the pool along one random direction, over their spread.
- ``pool/overlap_entropy``: the share of the top n of a fixed set of N pool inputs that the run's priority
  and ``entropy`` both select, from one draw of ``acquisition.num_index_samples`` indices (classification).
- ``pool/overlap_index``: the same share between the run's priority on two independent draws of A indices:
  the selection's Monte Carlo noise floor at A.
- ``<split>/spread_change``: each held-out split's mean spread over that of the initial model (no labels,
  measured once when the run starts: ``set_initial``): the spread's change with labels on a fixed set of
  inputs that are never labeled.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from epinet_al.acquisition.priorities import Priority, get_priority
from epinet_al.active_learning.agent import Agent
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.data.inputs import Inputs, TensorInputs
from epinet_al.uncertainty import input_spread, spread_ratio, top_overlap

SPREAD_SUFFIX = "/spread"
# Seeds of the generators a random priority (uniform) scores the two draws with: fixed, so that a point's
# overlaps do not depend on the points before it.
_SCORE_SEEDS = (0, 1)


class SelectionDiagnostics:
    """The pool-side diagnostics of one run (see the module doc); ``__call__`` measures one evaluation point.

    ``eval_cfg``: the run's ``EvalConfig`` (sizes; ``eval.seen_inputs`` = 0 or ``eval.overlap_candidates`` = 0
    leave a part out). ``priority``: the run's priority, which ``targets`` (pool positions) feed when it is a
    target priority. ``num_index_samples``: A of the overlaps, the run's scoring A. ``batch_size``: inputs per
    forward pass. ``generator``: the run's diagnostics stream.
    """

    def __init__(
        self,
        agent: Agent,
        pool: Inputs,
        *,
        eval_cfg: Any,
        priority: Priority,
        needs_targets: bool,
        num_targets: int,
        num_index_samples: int,
        regression: bool,
        batch_size: int | None,
        generator: torch.Generator,
    ):
        self.agent = agent
        self.pool = pool
        self.priority = priority
        self.regression = regression
        self.batch_size = batch_size
        self.seen_inputs = eval_cfg.seen_inputs
        size = len(pool)
        # One generator per set, seeded from the stream: a set does not change when another one's size does.
        order_gen, candidate_gen, target_gen, index_gen, shift_gen = (
            torch.Generator().manual_seed(int(seed)) for seed in torch.randint(2**62, (5,), generator=generator)
        )
        self.order = torch.randperm(size, generator=order_gen)  # seen and unseen inputs: the first in this order
        self.candidates: torch.Tensor | None = None
        self.targets: torch.Tensor | None = None
        self.draws: list[torch.Tensor] | None = None
        if eval_cfg.overlap_candidates:
            num = min(eval_cfg.overlap_candidates, size)
            # On a pool smaller than N, n shrinks alike: the overlaps stay those of the same top fraction.
            self.top = max(1, round(eval_cfg.overlap_top * num / eval_cfg.overlap_candidates))
            self.candidates = torch.randperm(size, generator=candidate_gen)[:num]
            if needs_targets:
                self.targets = torch.randperm(size, generator=target_gen)[:num_targets]
            self.draws = [agent.sample_diagnostic_index(num_index_samples, index_gen) for _ in range(2)]
        self.shift: torch.Tensor | None = None
        if eval_cfg.far_shift and self.seen_inputs and isinstance(pool, TensorInputs):
            direction = torch.randn(pool.data[0].numel(), generator=shift_gen)
            radius = pool.data.flatten(1).double().var(0).sum().sqrt()
            self.shift = (eval_cfg.far_shift * radius * direction / direction.norm()).to(pool.data.dtype)
        self.initial_spread: dict[str, float] = {}  # "<split>/spread" -> the initial model's

    def set_initial(self, metrics: dict[str, float]) -> None:
        """The held-out metrics of the initial model (before any label): the reference of ``spread_change``."""
        self.initial_spread = {key: value for key, value in metrics.items() if key.endswith(SPREAD_SUFFIX)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "candidates": self.candidates,
            "targets": self.targets,
            "draws": self.draws,
            "shift": self.shift,
            "initial_spread": dict(self.initial_spread),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, dict(value) if key == "initial_spread" else value)

    def __call__(self, ledger: LabelLedger, metrics: dict[str, float]) -> dict[str, float]:
        """The diagnostics of the current model and labels; ``metrics``: this point's held-out metrics."""
        values = self._spread_change(metrics)
        if self.seen_inputs:
            values.update(self._seen_unseen(ledger))
        if self.candidates is not None:
            values.update(self._overlaps())
        return values

    def _spread_change(self, metrics: dict[str, float]) -> dict[str, float]:
        return {
            f"{key}_change": spread_ratio(metrics[key], initial)
            for key, initial in self.initial_spread.items()
            if key in metrics
        }

    def _measure(self, rows: torch.Tensor, shift: torch.Tensor | None = None) -> tuple[float, float]:
        """The mean spread and the mean score of the run's priority on the pool inputs ``rows`` (moved by
        ``shift``), from the run's evaluation indices; NaN for no inputs."""
        if rows.numel() == 0:
            return math.nan, math.nan
        pool = self.pool
        if shift is not None:
            assert isinstance(pool, TensorInputs)  # a shift is drawn for vector inputs only
            pool = TensorInputs(pool.data[rows] + shift)
        rows = rows if shift is None else torch.arange(rows.shape[0])
        outputs = self.agent.outputs(pool, rows, self.agent.eval_index, batch_size=self.batch_size)
        return float(input_spread(outputs, self.regression).mean()), float(self._scores([outputs])[0].mean())

    def _seen_unseen(self, ledger: LabelLedger) -> dict[str, float]:
        labeled = ledger.is_labeled[self.order]
        seen, unseen = self.order[labeled][: self.seen_inputs], self.order[~labeled][: self.seen_inputs]
        (spread_seen, score_seen), (spread_unseen, score_unseen) = self._measure(seen), self._measure(unseen)
        values = {
            "pool/spread_seen": spread_seen,
            "pool/spread_unseen": spread_unseen,
            "pool/seen_unseen": spread_ratio(spread_seen, spread_unseen),
            "pool/priority_seen_unseen": score_seen / score_unseen if score_unseen > 0 else math.nan,
        }
        if self.shift is not None:
            values["pool/far_unseen"] = spread_ratio(self._measure(unseen, self.shift)[0], spread_unseen)
        return values

    def _scores(self, outputs: list[torch.Tensor], draws: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """The run's priority on each of ``outputs`` [A, B, C]; a target priority reads the fixed targets with
        the same indices (``draws``, default the evaluation indices); a random one a fixed generator."""
        extra: list[dict[str, torch.Tensor]] = [{} for _ in outputs]
        if self.targets is not None:
            draws = draws or [self.agent.eval_index]
            targets = self.agent.outputs(self.pool, self.targets, torch.cat(draws), batch_size=self.batch_size)
            extra = [{"target_logits": part} for part in targets.split([len(d) for d in draws])]
        return [
            self.priority(logits, generator=torch.Generator().manual_seed(seed), **kwargs)
            for logits, seed, kwargs in zip(outputs, _SCORE_SEEDS, extra, strict=False)
        ]

    def _overlaps(self) -> dict[str, float]:
        draws = self.draws
        assert draws is not None and self.candidates is not None  # measured only when eval.overlap_candidates > 0
        # One forward pass for both draws: the body runs once, the head for every index of either draw.
        outputs = self.agent.outputs(self.pool, self.candidates, torch.cat(draws), batch_size=self.batch_size)
        first, second = outputs.split([len(draw) for draw in draws])
        scores = self._scores([first, second], draws)
        values = {"pool/overlap_index": top_overlap(scores[0], scores[1], self.top)}
        if not self.regression:
            values["pool/overlap_entropy"] = top_overlap(scores[0], get_priority("entropy")(first), self.top)
        return values
