"""The agent: what every acquisition loop does with the model (score, train, evaluate), behind one object.

The loops drive an ``Agent`` and never touch the model, the optimizer or Fabric themselves, so a
loop reads as the protocol it implements, and a different backend (sharded scoring, a cache of
scores) plugs in here. Before each training step the agent calls ``on_before_train_step(step=...)`` on the
run's Fabric callbacks (``Fabric(callbacks=...)``, given to ``run_experiment``), so a test can stop a run at a
known step without patching loop internals.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import torch
from lightning_fabric import Fabric
from lightning_utilities import apply_to_collection

from epinet_al.acquisition.priorities import Priority
from epinet_al.active_learning import distributed
from epinet_al.data.inputs import Inputs, length_buckets, trim_rows
from epinet_al.networks.specs import LR_SCHEDULES
from epinet_al.tasks.task import Evaluator


class Diverged(FloatingPointError):
    """A non-finite training loss: the run stops before the update. Whoever knows what the run has kept
    on disk words the message (``message``); ``str()`` alone leaves that part out."""

    def __init__(self, loss: float, step: int):
        self.loss, self.step = loss, step
        super().__init__(f"training loss is {loss} at step {step}; stopped before the update")

    def message(self, kept: str) -> str:
        return f"{self} ({kept}): lower trainer.optimizer.lr or set trainer.gradient_clip_norm"


def lr_factor(fit_step: int, fit_steps: int, schedule: str, warmup_ratio: float) -> float:
    """The learning rate of step ``fit_step`` (1-based) of a fit of ``fit_steps`` steps, relative to the base.

    ``linear``: linear warmup over the first ``warmup_ratio`` of the steps, then linear decay to 0 at the
    last step (BERT's fine-tuning recipe, as transformers' get_linear_schedule_with_warmup); ``constant``: 1.
    A function of the step alone, so a resumed run needs no scheduler state.
    """
    if schedule == "constant":
        return 1.0
    warmup = int(warmup_ratio * fit_steps)
    if fit_step <= warmup:
        return fit_step / max(1, warmup)
    return max(0.0, (fit_steps - fit_step + 1) / max(1, fit_steps - warmup))


def length_order(pool: Inputs, candidates: torch.Tensor, batch_size: int | None) -> torch.Tensor:
    """The order [B] in which to run ``candidates`` through the model: by length (longest first) for token
    inputs that need more than one forward batch, as given otherwise."""
    lengths = getattr(pool, "lengths", None)
    if lengths is None or not batch_size or candidates.shape[0] <= batch_size:
        return torch.arange(candidates.shape[0])
    return torch.sort(lengths[candidates], descending=True, stable=True).indices


class Agent:
    """The Fabric-wrapped EnnModule and its optimizer, trained and queried by the acquisition loops.

    ``num_index_samples`` (A) index samples score candidates, ``eval_index_samples`` evaluate.
    Evaluation uses one set of indices drawn from ``eval_generator`` when the agent is built, so that an
    evaluation point's metrics depend on the model alone, never on how many points came before it.
    Scoring draws A fresh indices from the run's index stream per call, or, with ``fixed_index``, uses one
    set drawn from ``score_generator`` when the agent is built (the reference's ``make_batch_fwd``: a
    selection then changes only when the model does). Both sets are saved with the run (``state_dict``).
    ``score_batch_size``: candidates per forward pass where a scoring call gives none (None: all at once).
    ``max_padding``: token batches train in groups of similar lengths, each padded to at most
    (1 + max_padding) positions per real token (None: one padded batch). The initial weights and optimizer
    state are kept so that a protocol can retrain from them (``reset``).
    """

    def __init__(
        self,
        fabric: Fabric,
        module: Any,
        optimizer: torch.optim.Optimizer,
        *,
        num_index_samples: int,
        eval_index_samples: int,
        eval_generator: torch.Generator,
        fixed_index: bool = False,
        score_generator: torch.Generator | None = None,
        gradient_clip_norm: float | None = None,
        lr_schedule: str = "constant",
        warmup_ratio: float = 0.0,
        score_batch_size: int | None = None,
        max_padding: float | None = None,
    ):
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {lr_schedule!r}; valid schedules: {', '.join(LR_SCHEDULES)}")
        self.fabric = fabric
        self.module = module
        self.optimizer = optimizer
        self.num_index_samples = num_index_samples
        self.eval_index_samples = eval_index_samples
        head = module.head
        self.eval_index = head.sample_index(self._samples(eval_index_samples), generator=eval_generator)
        if fixed_index and score_generator is None:
            raise ValueError("fixed_index needs the score_generator its indices are drawn from")
        self.score_index = (
            head.sample_index(self._samples(num_index_samples), generator=score_generator) if fixed_index else None
        )
        self.gradient_clip_norm = gradient_clip_norm
        self.lr_schedule = lr_schedule
        self.warmup_ratio = warmup_ratio
        self.score_batch_size = score_batch_size
        self.max_padding = max_padding
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        # Captured before any restore: a protocol that retrains from scratch starts from the same weights.
        self._initial_weights = copy.deepcopy(module.state_dict())
        self._initial_optimizer = copy.deepcopy(optimizer.state_dict())
        self.l2_weight = 0.0  # the L2 weight s(N) of the last training step, logged as train/l2_weight

    def reset(self) -> None:
        """Back to the initial weights and a fresh optimizer state (a retrain from scratch)."""
        self.module.load_state_dict(self._initial_weights)
        self.optimizer.load_state_dict(self._initial_optimizer)

    def reseed_training(self, seed: int) -> None:
        """Draw the training steps' randomness from ``seed`` from here on: the training indices and the dropout
        of a fine-tuned encoder (the global torch RNG), so that a fit starting here depends on ``seed`` and its
        data only."""
        torch.manual_seed(seed)
        if self.module.index_generator is not None:
            self.module.index_generator.manual_seed(seed)

    def _samples(self, requested: int) -> int:
        """A head without an index gives the same output for every index: one sample is enough."""
        return requested if self.module.head.has_index else 1

    def state_dict(self) -> dict[str, torch.Tensor | None]:
        """The fixed index sets (evaluation, and scoring with ``fixed_index``)."""
        return {"eval_index": self.eval_index, "score_index": self.score_index}

    def load_state_dict(self, state: dict[str, torch.Tensor | None]) -> None:
        self.eval_index, self.score_index = state["eval_index"], state["score_index"]

    def sample_diagnostic_index(self, num: int, generator: torch.Generator) -> torch.Tensor:
        """``num`` indices (one for a head without an index) from ``generator``: the diagnostics' own draws."""
        return self.module.head.sample_index(self._samples(num), generator=generator)

    def outputs(
        self, pool: Inputs, rows: torch.Tensor, index: torch.Tensor, *, batch_size: int | None, shared: bool = False
    ) -> torch.Tensor:
        """Outputs [A, B, C] (float64, on the CPU, in the order of ``rows``) of the pool examples ``rows`` [B]
        for the indices ``index`` [A, ...], under inference mode.

        Token inputs are sorted by length into forward batches of ``batch_size`` (None: one batch;
        ``length_order``), each padded to its own longest. ``shared``: the batches are shared out over the
        ranks of a data-parallel run (``distributed``) and the outputs gathered; every rank must call it.
        """
        order = length_order(pool, rows, batch_size)
        batches = rows[order].split(batch_size) if batch_size else [rows]
        chunks = batches[distributed.share(self.fabric, len(batches))] if shared else batches
        with self._inference():
            # Outputs in float64: near its maximum the entropy of a float32 prediction has too few
            # distinct values to rank close candidates (on two classes it then disagrees with margin).
            outputs = torch.cat(
                [self.module(self.fabric.to_device(pool.take(chunk)), index).double().cpu() for chunk in chunks], dim=1
            )  # [A, B_rank, C] in the order of the batches
        if shared:
            outputs = distributed.gather(self.fabric, outputs, [len(batch) for batch in batches], dim=1)
        return outputs[:, torch.argsort(order)]

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Evaluation mode under ``torch.inference_mode``; the module's training mode is restored after."""
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.module.train(was_training)

    def score(
        self,
        pool: Inputs,
        candidates: torch.Tensor,
        priority: Priority,
        generator: torch.Generator,
        *,
        targets: Any | None = None,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """Priority scores [B] of the pool examples ``candidates`` [B] from A index samples.

        One set of A indices serves every forward batch of the call (the fixed set with ``fixed_index``,
        else A fresh ones from the run's index stream), so the scores do not depend on how the candidates
        are split into batches of ``batch_size`` (None: the agent's ``score_batch_size``). That lets token
        inputs be sorted by length into the batches (``length_order``): each batch is padded to its own
        longest, not the call's, and be shared out over the ranks of a data-parallel run (``distributed``),
        each rank computing its contiguous share of the batches. ``targets`` (for a target priority) run
        with the same indices; the priority gets their logits [A, T, C].
        """
        batch_size = batch_size or self.score_batch_size
        index = self.score_index
        if index is None:
            index = self.module.sample_index(self._samples(self.num_index_samples))
        logits = self.outputs(pool, candidates, index, batch_size=batch_size, shared=True)  # [A, B, C]
        extra = {}
        if targets is not None:
            with self._inference():
                extra["target_logits"] = self.module(self.fabric.to_device(targets), index).double().cpu()  # [A, T, C]
        return priority(logits, generator=generator, **extra)

    def train(
        self,
        batch: tuple[Any, ...],
        *,
        step: int,
        num_labels: int,
        fit_step: int = 1,
        fit_steps: int = 1,
    ) -> float:
        """One SGD step on a labeled batch (inputs, labels, pool positions: the loops give all three; the
        positions only serve ``head.bootstrap``); returns its data loss (the L2 term left out).

        In a data-parallel run each rank trains on its share of the batch (``distributed.share``), its
        data loss weighted by the share's size so that the gradients DDP averages over the ranks are
        those of the whole batch; the returned loss is the whole batch's. Token inputs run in groups of
        similar lengths (``micro_batches``): the same update as one padded batch, up to float rounding.

        ``num_labels`` sets the L2 weight; ``fit_step`` of ``fit_steps`` places the step in the current
        fit for the learning-rate schedule (a fit: one round of the pool protocol, one subset, or a whole
        prioritized run).
        """
        self.fabric.call("on_before_train_step", step=step)
        factor = lr_factor(fit_step, fit_steps, self.lr_schedule, self.warmup_ratio)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor
        if not self.module.training:  # train() walks every submodule: only when it changes anything
            self.module.train()
        size = batch[1].shape[0]
        rows = distributed.share(self.fabric, size)
        if distributed.is_sharded(self.fabric, size):
            batch = apply_to_collection(batch, torch.Tensor, lambda tensor: tensor[rows])
        losses = self.module.training_step(self.fabric.to_device(self.micro_batches(batch)), num_labels)
        loss, data_loss = losses["loss"], losses["data_loss"]
        finite = torch.isfinite(loss)
        if distributed.is_sharded(self.fabric, size):
            weight = (rows.stop - rows.start) / size
            loss = loss + (weight * self.fabric.world_size - 1) * data_loss
            # One collective: the whole batch's data loss, and the sum of the ranks' losses, finite only if
            # every rank's is, so that all ranks stop together (one rank stopping alone hangs the others).
            summed = self.fabric.all_reduce(torch.stack([data_loss.detach() * weight, loss.detach()]), reduce_op="sum")
            data_loss, finite = summed[0], torch.isfinite(summed[1])
        if not finite:
            raise Diverged(loss.item(), step)
        self.optimizer.zero_grad(set_to_none=True)
        self.fabric.backward(loss)
        if self.gradient_clip_norm is not None:
            self.fabric.clip_gradients(self.module, self.optimizer, max_norm=self.gradient_clip_norm)
        self.optimizer.step()
        self.l2_weight = self.module.l2_weight(num_labels)
        return float(data_loss.detach())

    def micro_batches(self, batch: tuple[Any, ...]) -> tuple[Any, ...] | list[tuple[Any, ...]]:
        """A padded token batch as groups of similar lengths, each cut to its own longest (``max_padding``);
        any other batch (vectors, features, or ``max_padding=None``) as it is."""
        inputs, labels, *positions = batch
        if self.max_padding is None or not isinstance(inputs, dict) or "attention_mask" not in inputs:
            return batch
        groups = length_buckets(inputs["attention_mask"], self.max_padding)
        if len(groups) == 1:
            return batch
        return [(trim_rows(inputs, rows), labels[rows], *(p[rows] for p in positions)) for rows in groups]

    def evaluate(self, evaluator: Evaluator) -> dict[str, float]:
        """Held-out metrics of the marginal and joint predictive from the run's fixed evaluation indices."""

        def predict(inputs: Any) -> torch.Tensor:
            return self.module(self.fabric.to_device(inputs), self.eval_index).float().cpu()

        with self._inference():
            return evaluator(predict)
