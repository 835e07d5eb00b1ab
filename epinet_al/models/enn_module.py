"""The LightningModule that trains an ENN (base model plus uncertainty head)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from epinet_al.models.bootstrap import GaussianIndexBootstrap
from epinet_al.networks.enn import ENN
from epinet_al.networks.epinet import EpinetHead

# Takes the parameters, or parameter groups (dicts with "params" and their own settings).
OptimizerFactory = Callable[[Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]]], torch.optim.Optimizer]


class EnnModule(pl.LightningModule):
    """Cross-entropy averaged over ``train_index_samples`` indices (n_z) and over the batch, plus the head's L2.

    ``regression=True`` (one output, float targets: STS-B) makes it the squared error of that output,
    averaged the same way. ``body_param_groups`` are optimizer groups with their own settings (a
    fine-tuned encoder's learning rate and decoupled weight decay); every other trainable parameter
    forms the first group.

    The L2 term is the reference recipe's: ``l2_scale * head.reference_l2(N, temperature) * sum(theta^2)``
    over the head's trainable parameters, N the labels used so far, so the regularisation weakens as
    labels accumulate. It lives in the loss, apart from the optimizer's own (decoupled) weight decay.

    The base model gets its gradient through mu's part of the logits, the epinet through its own
    part; the prior has no trainable parameters. ``index_generator`` draws the training indices,
    so the run's index stream is seeded and can be saved and restored. Fabric drives it by hand
    (no Trainer): the LightningModule base gives Fabric's precision and device handling.

    Two loss variants of the reference library (google-deepmind/enn ``losses``), for an epinet head:
    ``bootstrap`` weighs each (index, example) cross-entropy by a bootstrap weight of the example's pool
    position (``models.bootstrap``; the batch then carries the positions as its third item), and
    ``prior_loss_scale`` > 0 adds ``prior_loss_scale`` x 0.5 x the mean square of the learnable part of the
    logits (base + epinet, the prior left out) on as many fake inputs x ~ N(0, I) as the batch has: the
    reference's ClassificationPriorLoss, which pulls the learnable part to 0 away from the data, where the
    prior then speaks alone. It needs the head to read the inputs themselves (vectors, frozen features).
    """

    def __init__(
        self,
        enn: ENN,
        *,
        optimizer: OptimizerFactory,
        train_index_samples: int,
        index_generator: torch.Generator | None = None,
        regression: bool = False,
        body_param_groups: list[dict[str, Any]] | None = None,
        l2_scale: float = 0.0,
        temperature: float = 1.0,
        bootstrap: GaussianIndexBootstrap | None = None,
        prior_loss_scale: float = 0.0,
    ):
        super().__init__()
        if train_index_samples <= 0:
            raise ValueError(f"train_index_samples must be positive, got {train_index_samples}")
        self.enn = enn
        self.optimizer_factory = optimizer
        self.train_index_samples = train_index_samples
        self.index_generator = index_generator
        self.regression = regression
        self.body_param_groups = body_param_groups or []
        self.l2_scale = l2_scale
        self.temperature = temperature
        self.bootstrap = bootstrap
        self.prior_loss_scale = prior_loss_scale

    @property
    def head(self):
        return self.enn.head

    def forward(self, inputs: Any, index: torch.Tensor) -> torch.Tensor:
        """Logits [A, B, C] for the A indices in ``index``."""
        return self.enn(inputs, index)

    def sample_index(self, num: int) -> torch.Tensor:
        """``num`` indices from the head's reference distribution, from this run's index stream."""
        return self.enn.head.sample_index(num, generator=self.index_generator)

    def l2_weight(self, num_labels: int) -> float:
        """s(N): the weight of sum(theta^2) in the loss after ``num_labels`` labels (0 without an L2 term)."""
        if self.l2_scale == 0 or num_labels <= 0:
            return 0.0
        return self.l2_scale * self.enn.head.reference_l2(num_labels, self.temperature)

    def training_step(
        self, batch: tuple[Any, ...] | list[tuple[Any, ...]], num_labels: int = 0
    ) -> dict[str, torch.Tensor]:
        """``loss`` (to minimise) and ``data_loss`` (without the L2 term) of one labeled batch, with the L2
        weight for ``num_labels`` labels used so far.

        ``batch`` is (inputs, labels[, pool positions]) (the positions serve ``bootstrap``), or a list of them:
        parts of one batch that run as separate forward passes (token inputs in groups of similar lengths,
        ``Agent.train``). The parts share one set of training indices and each weighs by its share of the
        examples, so the loss is the whole batch's.
        """
        parts = batch if isinstance(batch, list) else [batch]
        index = self.sample_index(self.train_index_samples)
        size = sum(part[1].shape[0] for part in parts)
        loss = sum(
            self._data_loss(self(inputs, index), labels, index, positions) * (labels.shape[0] / size)
            for inputs, labels, *positions in parts
        )
        if self.prior_loss_scale:  # vector inputs only (checked when the config is converted): one part
            inputs = parts[0][0]
            fake = torch.randn(inputs.shape, generator=self.index_generator).to(inputs)
            head = self.enn.head
            assert isinstance(head, EpinetHead)  # prior_loss_scale is an epinet option (epinet_al.config)
            learnable = head.learnable_logits(self.enn.body(fake), index)
            loss = loss + self.prior_loss_scale * 0.5 * learnable.float().square().mean()
        weight = self.l2_weight(num_labels)
        total = loss + weight * self.enn.head.l2_penalty() if weight else loss
        # data_loss keeps its graph: a data-parallel step reweights it by the rank's share of the batch.
        return {"loss": total, "data_loss": loss}

    def _data_loss(
        self, logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, positions: list[torch.Tensor]
    ) -> torch.Tensor:
        """The loss of logits [n_z, B, C] averaged over the n_z indices and the B examples (each (index,
        example) cross-entropy weighed by its bootstrap weight with ``bootstrap``: ``positions`` [B] needed)."""
        if self.regression:  # C = 1
            return F.mse_loss(logits[..., 0].float(), labels.float().expand(logits.shape[0], -1))
        losses = F.cross_entropy(logits.flatten(0, 1).float(), labels.repeat(logits.shape[0]), reduction="none")
        if self.bootstrap is not None:
            losses = losses * self.bootstrap(positions[0], index).flatten()
        return losses.mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Frozen parameters (the epinet prior, a frozen encoder) never reach the optimizer.
        grouped = {id(p) for group in self.body_param_groups for p in group["params"]}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in grouped]
        if not self.body_param_groups:
            return self.optimizer_factory(rest)
        groups: list[dict[str, Any]] = [{"params": rest}, *self.body_param_groups]
        return self.optimizer_factory(groups)
