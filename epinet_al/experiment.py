"""One run, top to bottom: seed -> task -> model -> acquisition loop -> curve and summary."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from lightning_fabric import Fabric, seed_everything

from epinet_al.acquisition import EPISTEMIC_PRIORITIES, SELECTIONS, TARGET_PRIORITIES, get_priority
from epinet_al.active_learning.agent import LR_SCHEDULES, Agent
from epinet_al.active_learning.checkpoint import STATE_FILE, Checkpointer
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.loop import Loop
from epinet_al.active_learning.pool import run_pool
from epinet_al.active_learning.prioritized import REPLAYS, run_prioritized
from epinet_al.active_learning.subset import run_subset, subset_sizes
from epinet_al.config import EncoderModelConfig, ExperimentConfig
from epinet_al.metrics.uncertainty import collapsed, is_index_inert
from epinet_al.models import EnnModule
from epinet_al.networks import ENN, build_head
from epinet_al.networks.body import body_param_groups, build_body
from epinet_al.networks.encoder import EncoderBody
from epinet_al.report.stats import normalized_auc
from epinet_al.seeding import SeedStreams
from epinet_al.tasks import ActiveLearningTask, build_task
from epinet_al.tracking.recorder import CurveRecorder, write_summary
from epinet_al.tracking.versions import collect_versions
from epinet_al.tracking.wandb_tracker import WandbTracker

log = logging.getLogger(__name__)

# The acquisition protocols, by budget.protocol; they take the same arguments.
LOOPS = {"prioritized": run_prioritized, "pool": run_pool, "subset": run_subset}


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


_POSITIVE_FIELDS = {
    "prioritized": ("candidate_batch_size", "batch_size", "max_steps", "score_batch_size"),
    "pool": ("max_labels", "initial_labels", "acquire_size", "train_steps", "batch_size", "score_batch_size"),
    "subset": ("batch_size",),
}


def label_budget(budget: object, pool_size: int) -> int:
    """The labels a protocol may reveal on a pool of ``pool_size``: what the ledger allows."""
    if budget.protocol == "subset":
        return subset_sizes(budget, pool_size)[-1]
    return budget.max_labels or pool_size  # prioritized: 0 is no cap


def check_names(cfg: ExperimentConfig) -> None:
    """Refuse unknown protocol, selection or priority names; needs nothing built, so the command line
    checks every job of a sweep with it before any job starts."""
    if cfg.budget.protocol not in LOOPS:
        raise ValueError(f"unknown protocol {cfg.budget.protocol!r}; valid protocols: {', '.join(LOOPS)}")
    if cfg.acquisition.selection not in SELECTIONS:
        raise ValueError(f"unknown selection {cfg.acquisition.selection!r}; valid selections: {', '.join(SELECTIONS)}")
    get_priority(cfg.acquisition.priority)


def check_config(cfg: ExperimentConfig, task: ActiveLearningTask) -> None:
    """Refuse inconsistent settings before any work is done."""
    check_names(cfg)
    budget = cfg.budget
    pool_size = len(task.pool)
    for field in _POSITIVE_FIELDS[budget.protocol]:
        if getattr(budget, field) <= 0:
            raise ValueError(f"budget.{field} must be positive, got {getattr(budget, field)}")
    if pool_size == 0:
        raise ValueError(f"the pool of task {task.name!r} is empty")
    if budget.protocol == "subset":
        subset_sizes(budget, pool_size)
        if budget.train_steps < 0 or (budget.train_steps == 0 and budget.epochs <= 0):
            raise ValueError(
                f"budget.train_steps={budget.train_steps} with budget.epochs={budget.epochs}: give a positive "
                "train_steps, or train_steps=0 and positive epochs"
            )
    elif budget.max_labels < 0:
        raise ValueError(f"budget.max_labels must be >= 0 (0: no cap), got {budget.max_labels}")
    elif budget.max_labels > pool_size:
        raise ValueError(f"budget.max_labels={budget.max_labels} is larger than the pool ({pool_size} examples)")
    if budget.protocol == "prioritized":
        if budget.replay not in REPLAYS:
            raise ValueError(f"unknown budget.replay {budget.replay!r}; valid: {', '.join(REPLAYS)}")
        if budget.candidate_batch_size > pool_size:
            raise ValueError(
                f"budget.candidate_batch_size={budget.candidate_batch_size} is larger than the pool ({pool_size})"
            )
        if budget.batch_size > budget.candidate_batch_size:
            raise ValueError(
                f"budget.batch_size={budget.batch_size} is larger than "
                f"budget.candidate_batch_size={budget.candidate_batch_size}"
            )
    elif budget.protocol == "pool" and budget.initial_labels > budget.max_labels:
        raise ValueError(
            f"budget.initial_labels={budget.initial_labels} is larger than budget.max_labels={budget.max_labels}"
        )
    check_optimizer(cfg.trainer.optimizer)
    if cfg.head.l2_scale < 0:
        raise ValueError(f"head.l2_scale must be >= 0 (0: no L2 term), got {cfg.head.l2_scale}")
    if isinstance(cfg.model, EncoderModelConfig):
        if cfg.model.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"unknown model.lr_schedule {cfg.model.lr_schedule!r}; valid schedules: {', '.join(LR_SCHEDULES)}"
            )
        if not 0 <= cfg.model.warmup_ratio < 1:
            raise ValueError(f"model.warmup_ratio must be in [0, 1), got {cfg.model.warmup_ratio}")
    if cfg.acquisition.num_index_samples <= 0 or cfg.eval.num_index_samples <= 0:
        raise ValueError("acquisition.num_index_samples and eval.num_index_samples must be positive")
    get_priority(cfg.acquisition.priority, regression=task.regression)
    if cfg.acquisition.priority in TARGET_PRIORITIES and cfg.acquisition.num_targets <= 0:
        raise ValueError(f"acquisition.num_targets must be positive, got {cfg.acquisition.num_targets}")


def check_optimizer(optimizer: Any) -> None:
    """trainer.optimizer is an open mapping (any torch optimizer's keywords): its common numbers are checked here."""
    for key in ("lr", "weight_decay"):
        value = optimizer.get(key) if hasattr(optimizer, "get") else None
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (key == "lr" and value == 0):
            bound = "a positive number" if key == "lr" else "a number >= 0"
            raise ValueError(f"trainer.optimizer.{key} must be {bound}, got {value!r}")


def build_module(cfg: ExperimentConfig, task: ActiveLearningTask, streams: SeedStreams) -> EnnModule:
    torch.manual_seed(streams.init)
    body, feature_dim = build_body(cfg.model, task.pool)
    head = build_head(cfg.head, feature_dim, task.num_outputs)
    if head.body_per_index and not isinstance(body, EncoderBody):
        raise ValueError(
            f"head {cfg.head.name!r} re-runs the encoder once per index sample and needs an encoder that runs: "
            f"model=tiny, bert_base or minilm with model.finetune=full; model={cfg.model.name!r} "
            f"({getattr(cfg.model, 'finetune', 'no encoder')}) has none"
        )
    if cfg.acquisition.priority in EPISTEMIC_PRIORITIES and not head.has_index:
        raise ValueError(
            f"priority {cfg.acquisition.priority!r} needs a head with an epistemic index, but head "
            f"{cfg.head.name!r} has none (its scores would all be 0); use head=epinet, dropout or ensemble, "
            "or a marginal priority: uniform, entropy, margin, var_ratios"
        )
    return EnnModule(
        ENN(body, head),
        optimizer=hydra.utils.instantiate(cfg.trainer.optimizer),
        train_index_samples=cfg.head.train_index_samples,
        index_generator=streams.index,
        regression=task.regression,
        body_param_groups=body_param_groups(body, cfg.model),
        l2_scale=cfg.head.l2_scale,
        temperature=task.temperature,
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
    if cfg.logger.name != "wandb":
        raise ValueError(f"unknown logger {cfg.logger.name!r}; valid loggers: none, wandb")
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


def run_experiment(cfg: ExperimentConfig, output_dir: Path) -> dict[str, Any]:
    """Run one experiment and write curve.csv and summary.json to ``output_dir``. Returns the summary."""
    start = time.perf_counter()
    output_dir = prepare_output_dir(Path(output_dir))
    if cfg.trainer.num_threads is not None:
        torch.set_num_threads(cfg.trainer.num_threads)
    seed_everything(cfg.seed, verbose=False)
    streams = SeedStreams.from_seed(cfg.seed)

    with warnings.catch_warnings():
        # Lightning warns that `srun` exists whenever SLURM is installed; a single-device run needs no srun.
        warnings.filterwarnings("ignore", message=".*`srun` command is available.*")
        fabric = Fabric(
            accelerator=cfg.trainer.accelerator, devices=cfg.trainer.devices, precision=cfg.trainer.precision
        )
    # The device is known first: a frozen encoder computes the task's features on it.
    task = build_task(cfg.task, cfg.eval, cfg.model, fabric.device)
    check_config(cfg, task)
    module = build_module(cfg, task, streams)

    optimizer = module.configure_optimizers()
    module, optimizer = fabric.setup(module, optimizer)

    config_dict = dataclasses.asdict(cfg)
    checkpointer = Checkpointer(output_dir, config_dict)
    if cfg.resume and checkpointer.saved is None:
        raise FileNotFoundError(f"nothing to resume in {output_dir}: it has no {STATE_FILE}")
    trackers = start_trackers(cfg, task.name, config_dict, output_dir, checkpointer.wandb_run_id, checkpointer.curve)
    recorder = CurveRecorder(output_dir, trackers, rows=checkpointer.curve)
    ledger = LabelLedger(task.pool_labels, label_budget(cfg.budget, len(task.pool)))
    checkpointer.attach(
        module=module,
        optimizer=optimizer,
        ledger=ledger,
        streams=streams,
        recorder=recorder,
        wandb_run_id=trackers[0].run_id if trackers else None,
    )
    if checkpointer.saved:
        log.info("resuming %s from step %d", output_dir, checkpointer.saved["loop"]["step"])
    # Full fine-tuning follows BERT's recipe (warmup, then linear decay); a head on fixed features keeps its rate.
    full = isinstance(cfg.model, EncoderModelConfig) and cfg.model.finetune == "full"
    agent = Agent(
        fabric,
        module,
        optimizer,
        num_index_samples=cfg.acquisition.num_index_samples,
        eval_index_samples=cfg.eval.num_index_samples,
        eval_generator=streams.eval,
        gradient_clip_norm=cfg.trainer.gradient_clip_norm,
        lr_schedule=cfg.model.lr_schedule if full else "constant",
        warmup_ratio=cfg.model.warmup_ratio if full else 0.0,
    )
    loop = Loop(
        agent=agent,
        pool=task.pool,
        ledger=ledger,
        priority=get_priority(cfg.acquisition.priority, regression=task.regression),
        needs_targets=cfg.acquisition.priority in TARGET_PRIORITIES,
        acquisition=cfg.acquisition,
        evaluator=task.evaluator,
        record=recorder,
        generator=streams.acquisition,
        checkpoint=checkpointer,
        progress_bar=cfg.progress_bar,
    )
    try:
        LOOPS[cfg.budget.protocol](loop, cfg.budget)
    except BaseException:
        # Closed here rather than at interpreter exit: a requeued run resumes the same W&B run id.
        for tracker in trackers:
            tracker.fail()
        raise

    recorder.flush()  # curve.csv complete (a failed write at an evaluation point is retried) before the summary
    summary = {
        "run": run_info(cfg),
        "metric": {"name": task.primary_metric, "mode": task.metric_mode},
        "final": recorder.rows[-1],
        "auc": curve_auc(recorder.rows),
        "diagnostics": final_diagnostics(recorder.rows[-1], task),
        "config": config_dict,
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
    """Flags on the run's last evaluation point: a collapsed model, an index that changes nothing.

    Collapsed: near-constant predictions on the primary split with a training loss stuck at log C
    (``metrics.uncertainty.collapsed``), a run whose curve means nothing; warned about here and flagged
    in summary.json and the report.
    """
    split = task.primary_metric.split("/")[0]
    flags = {}
    if f"{split}/majority_fraction" in final:
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
    if f"{split}/spread" in final:
        flags["index_inert"] = is_index_inert(final[f"{split}/spread"])
    return flags


def curve_auc(rows: list[dict[str, float]]) -> dict[str, float]:
    """Area under each metric's curve over the run's label range, divided by it (a mean metric value)."""
    by_labels = {row["num_labels"]: row for row in rows}  # the last (most trained) row per label count
    labels = np.array(sorted(by_labels), dtype=float)
    if labels.size < 2:
        return {}
    metrics = [key for key in rows[-1] if "/" in key and not key.startswith("train/")]
    return {
        key: normalized_auc((labels, np.array([by_labels[n][key] for n in labels])), labels[0], labels[-1])
        for key in metrics
    }
