"""One run, top to bottom: seed -> task -> model -> acquisition loop -> curve and summary."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import hydra
import numpy as np
import torch
from lightning_fabric import Fabric, seed_everything

from epinet_al.acquisition.priorities import get_priority
from epinet_al.acquisition.specs import PRIORITY_SPECS
from epinet_al.active_learning.agent import Agent, Diverged
from epinet_al.active_learning.checkpoint import STATE_FILE, Checkpointer
from epinet_al.active_learning.diagnostics import SelectionDiagnostics
from epinet_al.active_learning.distributed import fabric_strategy
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.loop import Loop
from epinet_al.active_learning.specs import PROTOCOLS
from epinet_al.config import ExperimentConfig
from epinet_al.curves import curve_auc
from epinet_al.models import EnnModule
from epinet_al.models.bootstrap import GaussianIndexBootstrap
from epinet_al.networks.body import build_body
from epinet_al.networks.build import build_head
from epinet_al.networks.encoder import build_encoder_body, encoder_param_groups, encoder_width
from epinet_al.networks.enn import ENN
from epinet_al.networks.specs import EncoderModelConfig, EpinetHeadConfig, rule_l2_scale
from epinet_al.registry import load
from epinet_al.seeding import SeedStreams
from epinet_al.tasks.build import build_task
from epinet_al.tasks.task import ActiveLearningTask
from epinet_al.tracking.recorder import CurveRecorder, write_summary
from epinet_al.tracking.versions import collect_versions
from epinet_al.tracking.wandb_tracker import WandbTracker
from epinet_al.uncertainty import COLLAPSE_MAJORITY, collapsed, is_index_inert

log = logging.getLogger(__name__)


def agent_name(cfg: ExperimentConfig) -> str:
    """The agent a run belongs to in comparisons: uncertainty head and priority."""
    return f"{cfg.head.name}/{cfg.acquisition.priority}"


def run_info(cfg: ExperimentConfig) -> dict[str, Any]:
    return {
        "task": cfg.task.name,
        "model": cfg.model.name,
        "head": cfg.head.name,
        "priority": cfg.acquisition.priority,
        "protocol": cfg.budget.protocol,
        "seed": cfg.seed,
        "agent": agent_name(cfg),
        "sweep": cfg.sweep,
    }


def check_pool(cfg: ExperimentConfig, pool_size: int) -> None:
    """The checks that need the task's data: the budget against the pool's size, run by the task's builder as soon
    as it knows the size (a GLUE task: after reading its files, before encoding them).

    Everything else was checked when the config was converted (``epinet_al.config.to_experiment_config``).
    """
    if pool_size == 0:
        raise ValueError(f"the pool of task {cfg.task.name!r} is empty")
    cfg.budget.check_pool(pool_size)


def fill_encoder_l2_scale(cfg: ExperimentConfig) -> None:
    """head.l2_scale=null on a hub encoder, whose width only its config tells: the head's rule at that width
    (``epinet_al.config.fill_l2_scale`` filled every other config when it was converted)."""
    if cfg.head.l2_scale is None:
        cfg.head.l2_scale = rule_l2_scale(cfg.head.name, encoder_width(cfg.model), cfg.model.name)


def training_encoder(cfg: ExperimentConfig) -> EncoderModelConfig | None:
    """The model's config if its encoder (all of it, or its top layers) trains with the head, else None."""
    return cfg.model if isinstance(cfg.model, EncoderModelConfig) and cfg.model.trains_encoder else None


def build_module(cfg: ExperimentConfig, task: ActiveLearningTask, streams: SeedStreams) -> EnnModule:
    """The ENN (body and head) with its loss and optimizer, initialised from the run's init stream."""
    torch.manual_seed(streams.init)
    l2_scale = cfg.head.l2_scale
    assert l2_scale is not None  # filled when the config was converted, or by fill_encoder_l2_scale
    encoder_cfg = training_encoder(cfg)
    encoder = None if encoder_cfg is None else build_encoder_body(encoder_cfg)
    body, feature_dim = build_body(encoder, task.pool)
    head = build_head(cfg.head, feature_dim, task.num_outputs)
    epinet = cfg.head if isinstance(cfg.head, EpinetHeadConfig) else None  # the reference's loss variants
    bootstrap = (
        GaussianIndexBootstrap(epinet.bootstrap, epinet.index_dim, cfg.seed)
        if epinet is not None and epinet.bootstrap != "none"
        else None
    )
    return EnnModule(
        ENN(body, head),
        optimizer=hydra.utils.instantiate(cfg.trainer.optimizer),
        train_index_samples=cfg.head.train_index_samples,
        index_generator=streams.index,
        regression=task.regression,
        body_param_groups=[]
        if encoder_cfg is None or encoder is None
        else encoder_param_groups(encoder, encoder_cfg.lr, encoder_cfg.weight_decay),
        l2_scale=l2_scale,
        temperature=task.temperature,
        bootstrap=bootstrap,
        prior_loss_scale=epinet.prior_loss_scale if epinet is not None else 0.0,
    )


def build_agent(fabric: Fabric, cfg: ExperimentConfig, module: EnnModule, streams: SeedStreams) -> Agent:
    """``module`` (built from ``cfg``) and its optimizer set up by Fabric, behind the Agent the loops drive."""
    optimizer = module.configure_optimizers()
    with warnings.catch_warnings():
        # torch >= 2.13 renames DDP's broadcast_buffers (distributed.fabric_strategy), older ones lack the new name.
        warnings.filterwarnings("ignore", message=".*`broadcast_buffers` is deprecated.*")
        module, optimizer = fabric.setup(module, optimizer)
    # A fine-tuned encoder (all of it, or its top layers) follows model.lr_schedule and scores in its inference
    # batches; a head on fixed features keeps its rate and scores in evaluation batches.
    encoder = training_encoder(cfg)
    return Agent(
        fabric,
        module,
        optimizer,
        num_index_samples=cfg.acquisition.num_index_samples,
        eval_index_samples=cfg.eval.num_index_samples,
        eval_generator=streams.eval,
        fixed_index=cfg.acquisition.fixed_index,
        score_generator=streams.score,
        gradient_clip_norm=cfg.trainer.gradient_clip_norm,
        lr_schedule=encoder.lr_schedule if encoder else "constant",
        warmup_ratio=encoder.warmup_ratio if encoder else 0.0,
        score_batch_size=encoder.batch_size if encoder else cfg.eval.batch_size,
        max_padding=cfg.trainer.max_padding,
    )


def prepare_output_dir(output_dir: Path) -> Path:
    """Create the run folder and make sure files can be written there, before any work is done."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=output_dir).close()
    except OSError as error:
        raise PermissionError(f"output folder {output_dir} cannot be written: {error.strerror}") from None
    return output_dir


# Keys that do not change a run's numbers, or that tell seeds apart: left out of the settings digest.
_NOT_SETTINGS = ("seed", "progress_bar", "logger", "resume", "keep_state", "sweep")


def settings_digest(config: dict[str, Any]) -> str:
    """8 hex digits naming a run's settings apart from the seed: runs that are seeds of one agent share it."""
    settings = {k: v for k, v in config.items() if k not in _NOT_SETTINGS}
    settings["task"] = {k: v for k, v in settings.get("task", {}).items() if k != "seed"}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]


def start_trackers(
    cfg: ExperimentConfig,
    task_name: str,
    config_dict: dict[str, Any],
    output_dir: Path,
    run_id: str | None,
    rows: list[dict[str, float]] | None = None,
) -> list[WandbTracker]:
    """The experiment trackers besides curve.csv: a W&B run (resumed when ``run_id`` is given) or none.

    ``rows``: the curve rows saved before a resume, for the tracker to log those it does not hold.
    """
    if cfg.logger.name == "none":
        return []
    agent = agent_name(cfg)
    # Runs of one agent that differ in any other setting (a swept learning rate) get distinct names.
    setting = settings_digest(config_dict)
    tracker = WandbTracker.start(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        mode=cfg.logger.mode,
        group=cfg.logger.group or f"{cfg.sweep}-{task_name}",
        job_type=agent.replace("/", "-"),
        name=f"{task_name}-{agent.replace('/', '-')}-{setting}-seed{cfg.seed}",
        tags=[task_name, cfg.head.name, cfg.acquisition.priority, *cfg.logger.tags],
        config={**config_dict, "agent": agent, "setting": setting},
        output_dir=output_dir,
        run_id=run_id,
        rows=rows,
    )
    return [tracker] if tracker else []


def run_experiment(cfg: ExperimentConfig, output_dir: Path, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Run one experiment and write curve.csv and summary.json to ``output_dir``. Returns the summary.

    ``callbacks``: this run's Fabric callbacks (``Fabric(callbacks=...)``): objects with any of the hooks the
    run calls through ``fabric.call``, ``on_before_train_step(step)`` (``Agent.train``). Tests stop a run at
    a known step with one; a data-parallel run started by ``ddp_spawn`` pickles them to its processes.

    With ``trainer.devices`` x ``trainer.num_nodes`` > 1 the run is data parallel: Fabric starts (or,
    under srun and torchrun, joins) one process per device, each runs ``run_process``, and every rank
    returns rank 0's summary.
    """
    start = time.perf_counter()
    output_dir = prepare_output_dir(Path(output_dir))
    trainer = cfg.trainer
    with warnings.catch_warnings():
        # Lightning warns that `srun` exists whenever SLURM is installed; a single-device run needs no srun.
        warnings.filterwarnings("ignore", message=".*`srun` command is available.*")
        fabric = Fabric(
            accelerator=trainer.accelerator,
            devices=trainer.devices,
            num_nodes=trainer.num_nodes,
            strategy=fabric_strategy(trainer.strategy, trainer.devices * trainer.num_nodes),
            precision=cast(Any, trainer.precision),  # Fabric refuses an unknown one
            callbacks=list(callbacks),  # a copy: Fabric extends the list it is given
        )
    return fabric.launch(functools.partial(run_process, cfg=cfg, output_dir=output_dir, start=start))


def run_process(fabric: Fabric, cfg: ExperimentConfig, output_dir: Path, start: float) -> dict[str, Any]:
    """One process of a run (the only one, or one rank of a data-parallel run); rank 0 writes the results."""
    if cfg.trainer.num_threads is not None:
        torch.set_num_threads(cfg.trainer.num_threads)
    seed_everything(cfg.seed, verbose=False)
    streams = SeedStreams.from_seed(cfg.seed)
    writer = fabric.is_global_zero

    # The device is known first: a frozen encoder computes the task's cached inputs on it. Rank 0 of a
    # data-parallel run computes and caches them, then the other ranks read its caches (no duplicate encoding).
    with fabric.rank_zero_first():
        task = build_task(cfg.task, cfg.eval, cfg.model, fabric.device, check_pool=functools.partial(check_pool, cfg))
    fill_encoder_l2_scale(cfg)  # before the config is saved
    agent = build_agent(fabric, cfg, build_module(cfg, task, streams), streams)

    config_dict = dataclasses.asdict(cfg)
    checkpointer = Checkpointer(output_dir, config_dict)
    if cfg.resume and checkpointer.saved is None:
        raise FileNotFoundError(f"nothing to resume in {output_dir}: it has no {STATE_FILE}")
    trackers = (
        start_trackers(cfg, task.name, config_dict, output_dir, checkpointer.wandb_run_id, checkpointer.curve)
        if writer
        else []
    )
    recorder = CurveRecorder(output_dir, trackers, rows=checkpointer.curve)
    ledger = LabelLedger(task.pool_labels, cfg.budget.label_budget(len(task.pool)))
    priority = get_priority(cfg.acquisition.priority, regression=task.regression)
    needs_targets = PRIORITY_SPECS.get(cfg.acquisition.priority).needs_targets
    diagnostics = SelectionDiagnostics(
        agent,
        task.pool,
        eval_cfg=cfg.eval,
        priority=priority,
        needs_targets=needs_targets,
        num_targets=cfg.acquisition.num_targets,
        num_index_samples=cfg.acquisition.num_index_samples,
        regression=task.regression,
        batch_size=agent.score_batch_size,
        generator=streams.diagnostics,
    )
    checkpointer.attach(
        module=agent.module,
        optimizer=agent.optimizer,
        ledger=ledger,
        streams=streams,
        recorder=recorder,
        wandb_run_id=trackers[0].run_id if trackers else None,
        fixed={"agent": agent, "diagnostics": diagnostics},
    )
    if checkpointer.saved:
        log.info("resuming %s from step %d", output_dir, checkpointer.saved["loop"]["step"])
    elif writer:
        diagnostics.set_initial(agent.evaluate(task.evaluator))  # a resumed run has it in state.pt
    loop = Loop(
        agent=agent,
        pool=task.pool,
        ledger=ledger,
        priority=priority,
        needs_targets=needs_targets,
        acquisition=cfg.acquisition,
        evaluator=task.evaluator,
        record=recorder,
        generator=streams.acquisition,
        seed=cfg.seed,
        checkpoint=checkpointer,
        diagnostics=diagnostics,
        progress_bar=cfg.progress_bar and writer,
    )
    try:
        load(PROTOCOLS.get(cfg.budget.protocol).run)(loop, cfg.budget)
    except BaseException as error:
        # Closed here rather than at interpreter exit: a requeued run resumes the same W&B run id.
        for tracker in trackers:
            tracker.fail()
        if isinstance(error, Diverged):
            raise FloatingPointError(error.message(checkpointer.kept())) from None
        raise

    summary = write_results(cfg, task, output_dir, recorder, trackers, checkpointer, start) if writer else None
    return cast(dict[str, Any], fabric.broadcast(summary))  # rank 0's, on every rank


def write_results(
    cfg: ExperimentConfig,
    task: ActiveLearningTask,
    output_dir: Path,
    recorder: CurveRecorder,
    trackers: list[WandbTracker],
    checkpointer: Checkpointer,
    start: float,
) -> dict[str, Any]:
    """The finished run's curve.csv, summary.json and W&B summary (one writer: rank 0); the summary."""
    recorder.flush()  # curve.csv complete (a failed write at an evaluation point is retried) before the summary
    summary = {
        "run": run_info(cfg),
        "metric": {"name": task.primary_metric, "mode": task.metric_mode},
        "final": recorder.rows[-1],
        "auc": curve_auc(recorder.rows),
        "auc_log": curve_auc(recorder.rows, log=True),
        "diagnostics": final_diagnostics(recorder.rows[-1], task),
        "data": task.data_files,
        "config": checkpointer.config,
        "versions": collect_versions(),
        "torch_threads": torch.get_num_threads(),
        "wall_time_s": round(time.perf_counter() - start, 3),
    }
    for tracker in trackers:
        tracker.finish(summary, recorder.rows)
    write_summary(output_dir, summary)
    if not cfg.keep_state:
        checkpointer.discard()
    log.info("wrote %s", output_dir)
    return summary


def final_diagnostics(final: dict[str, float], task: ActiveLearningTask) -> dict[str, bool]:
    """Flags on the run's last evaluation point: a model that predicts one class, a collapsed model, an index
    that changes nothing.

    One class: the most predicted class covers at least ``COLLAPSE_MAJORITY`` of the primary split.
    Collapsed: near-constant predictions on the primary split with a training loss stuck at or above log C
    (``uncertainty.collapsed``), a run whose curve means nothing; warned about here and flagged
    in summary.json and the report.
    """
    split = task.primary_metric.split("/")[0]
    flags = {}
    if f"{split}/majority_fraction" in final:
        # One class for (nearly) every input: accuracy then measures the labels' balance, not the model.
        flags["one_class"] = final[f"{split}/majority_fraction"] >= COLLAPSE_MAJORITY
        flags["collapsed"] = collapsed(final.get("train/loss"), task.num_outputs, final[f"{split}/majority_fraction"])
        if flags["collapsed"]:
            log.warning(
                "the model collapsed: %.1f%% of %s predictions are one class and the training loss is %.3f "
                "(log C = %.3f); its curve measures nothing",
                100 * final[f"{split}/majority_fraction"],
                split,
                final.get("train/loss", float("nan")),
                np.log(task.num_outputs),
            )
        elif flags["one_class"]:
            log.warning(
                "the model predicts one class: %.1f%% of %s predictions are the same class; its accuracy is the "
                "share of that class",
                100 * final[f"{split}/majority_fraction"],
                split,
            )
    if f"{split}/spread" in final:
        flags["index_inert"] = is_index_inert(final[f"{split}/spread"])
    return flags
