"""The three things every acquisition loop does with the model: score, train, evaluate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from lightning_fabric import Fabric

from epinet_al.acquisition import TARGET_PRIORITIES, Priority
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.data.inputs import Inputs

# An evaluator maps a predict function (model inputs -> logits [A, B, C] on the CPU) to metrics
# named "split/metric".
Evaluator = Callable[[Callable[[Any], torch.Tensor]], dict[str, float]]


def num_index_samples(module: Any, requested: int) -> int:
    """A head without an index gives the same output for every index: one sample is enough."""
    return requested if module.head.has_index else 1


def draw_targets(pool: Inputs, ledger: LabelLedger, acquisition: Any, generator: torch.Generator) -> Any | None:
    """Target inputs for a priority that needs them (epig), None for the others.

    ``acquisition.num_targets`` random unlabeled pool examples: samples of the input distribution
    whose predictions the labels should improve (the whole pool once every label is revealed).
    """
    if acquisition.priority not in TARGET_PRIORITIES:
        return None
    source = (~ledger.is_labeled).nonzero().squeeze(1)
    if source.numel() == 0:
        source = torch.arange(len(pool))
    return pool.take(source[torch.randperm(source.shape[0], generator=generator)[: acquisition.num_targets]])


def score_candidates(
    fabric: Fabric,
    module: Any,
    inputs: Any,
    priority: Priority,
    num_samples: int,
    generator: torch.Generator,
    targets: Any | None = None,
) -> torch.Tensor:
    """Priority scores [B] of a candidate batch from A index samples (the body runs once).

    ``targets`` (for a target priority, see ``draw_targets``) run through the model with the same
    index as the candidates; the priority gets their logits [A, T, C] as ``target_logits``.
    """
    was_training = module.training
    module.eval()
    target_logits = {}
    with torch.inference_mode():
        index = module.sample_index(num_index_samples(module, num_samples))
        # Scores in float64: near its maximum the entropy of a float32 prediction has too few
        # distinct values to rank close candidates (on two classes it then disagrees with margin).
        logits = module(fabric.to_device(inputs), index).double().cpu()  # [A, B, C]
        if targets is not None:
            target_logits["target_logits"] = module(fabric.to_device(targets), index).double().cpu()  # [A, T, C]
    module.train(was_training)
    return priority(logits, generator=generator, **target_logits)


def train_step(
    fabric: Fabric,
    module: Any,
    optimizer: torch.optim.Optimizer,
    batch: tuple[Any, torch.Tensor],
    step: int,
    gradient_clip_norm: float | None = None,
) -> float:
    """One SGD step on a labeled batch; returns the loss."""
    module.train()
    loss = module.training_step(fabric.to_device(batch), step)
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"training loss is {loss.item()} at step {step}; stopped before the update (curve.csv and state.pt "
            "keep the last evaluation point): lower trainer.optimizer.lr or set trainer.gradient_clip_norm"
        )
    optimizer.zero_grad(set_to_none=True)
    fabric.backward(loss)
    if gradient_clip_norm is not None:
        fabric.clip_gradients(module, optimizer, max_norm=gradient_clip_norm)
    optimizer.step()
    return float(loss.detach())


def evaluate(
    fabric: Fabric, module: Any, evaluator: Evaluator, num_samples: int, generator: torch.Generator
) -> dict[str, float]:
    """Held-out metrics of the marginal and joint predictive from A index samples."""
    was_training = module.training
    module.eval()
    index = module.head.sample_index(num_index_samples(module, num_samples), generator=generator)

    def predict(inputs: Any) -> torch.Tensor:
        with torch.inference_mode():
            return module(fabric.to_device(inputs), index).float().cpu()

    metrics = evaluator(predict)
    module.train(was_training)
    return metrics
