"""The Agent a benchmark drives, set up as ``epinet_al.experiment.run_experiment`` sets up a run's."""

from __future__ import annotations

import torch
from lightning_fabric import Fabric

from epinet_al.active_learning.agent import Agent
from epinet_al.config import EncoderModelConfig, ExperimentConfig
from epinet_al.models import EnnModule
from epinet_al.seeding import SeedStreams


def build_agent(fabric: Fabric, cfg: ExperimentConfig, module: EnnModule, eval_generator: torch.Generator) -> Agent:
    """``module`` (built from ``cfg``), Fabric-wrapped with its optimizer, behind an Agent.

    Keep in step with ``run_experiment``: full fine-tuning follows ``model.lr_schedule``, a head on fixed
    features keeps its rate; the evaluation indices are drawn once (``eval_generator``); scoring draws fresh
    indices per call unless ``acquisition.fixed_index`` (then from the score stream of seed 0).
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
        fixed_index=cfg.acquisition.fixed_index,
        score_generator=SeedStreams.from_seed(0).score,
        gradient_clip_norm=cfg.trainer.gradient_clip_norm,
        lr_schedule=cfg.model.lr_schedule if full else "constant",
        warmup_ratio=cfg.model.warmup_ratio if full else 0.0,
    )
