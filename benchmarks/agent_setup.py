"""The Agent a benchmark drives, set up as ``epinet_al.experiment.run_experiment`` sets up a run's."""

from __future__ import annotations

import torch
from lightning_fabric import Fabric

from epinet_al.active_learning.agent import Agent
from epinet_al.config import EncoderModelConfig, ExperimentConfig
from epinet_al.models import EnnModule


def build_agent(fabric: Fabric, cfg: ExperimentConfig, module: EnnModule, eval_generator: torch.Generator) -> Agent:
    """``module`` (built from ``cfg``), Fabric-wrapped with its optimizer, behind an Agent.

    Keep in step with ``run_experiment``: full fine-tuning follows BERT's schedule, a head on fixed
    features keeps its rate.
    """
    wrapped, optimizer = fabric.setup(module, module.configure_optimizers())
    full = isinstance(cfg.model, EncoderModelConfig) and cfg.model.finetune == "full"
    return Agent(
        fabric,
        wrapped,
        optimizer,
        num_index_samples=cfg.acquisition.num_index_samples,
        eval_index_samples=cfg.eval.num_index_samples,
        eval_generator=eval_generator,
        gradient_clip_norm=cfg.trainer.gradient_clip_norm,
        lr_schedule=cfg.model.lr_schedule if full else "constant",
        warmup_ratio=cfg.model.warmup_ratio if full else 0.0,
    )
