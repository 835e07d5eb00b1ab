"""Typed configuration: the run's config assembled from the components' schemas, converted once at the entry point.

Every pluggable option (task, model, head, priority, protocol) owns its config dataclass and capabilities
in a torch-free spec module next to its implementation (``epinet_al/*/specs.py``, see docs/architecture.md).
Here they are registered with Hydra's ConfigStore as ``schema/<group>/<name>``, so every YAML file under
``conf/<group>/`` starts from its schema and carries only what differs. ``to_experiment_config`` is the one
conversion to dataclasses; it refuses every invalid config with a one-line ValueError before any data is
loaded or folder written: each dataclass checks its own fields (``__post_init__``), then
``check_compatible`` checks the groups against each other from the specs' capabilities.

Nothing here imports torch: composing and checking a config is fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from epinet_al.acquisition.specs import PRIORITY_SPECS, AcquisitionConfig, not_for_regression
from epinet_al.active_learning.specs import (
    PROTOCOLS,
    BudgetConfig,
    PoolBudgetConfig,
    PrioritizedBudgetConfig,
    SubsetBudgetConfig,
)
from epinet_al.networks.specs import (
    HEADS,
    MODELS,
    DropoutHeadConfig,
    EncoderDropoutHeadConfig,
    EncoderModelConfig,
    EnsembleHeadConfig,
    EpinetHeadConfig,
    HeadConfig,
    IdentityModelConfig,
    MLPHeadConfig,
    ModelConfig,
    rule_l2_scale,
)
from epinet_al.registry import _unset, check_at_least, check_choice, check_finite, check_positive, check_seed
from epinet_al.run_folder import record_subdir
from epinet_al.tasks.specs import TASKS, GlueTaskConfig, TaskConfig, TestbedTaskConfig

__all__ = [
    "AcquisitionConfig",
    "DropoutHeadConfig",
    "EncoderDropoutHeadConfig",
    "EncoderModelConfig",
    "EnsembleHeadConfig",
    "EpinetHeadConfig",
    "EvalConfig",
    "ExperimentConfig",
    "GlueTaskConfig",
    "IdentityModelConfig",
    "LoggerConfig",
    "MLPHeadConfig",
    "PoolBudgetConfig",
    "PrioritizedBudgetConfig",
    "SubsetBudgetConfig",
    "TestbedTaskConfig",
    "TrainerConfig",
    "check_compatible",
    "check_devices",
    "check_known_keys",
    "fill_l2_scale",
    "fill_prior_scale",
    "to_experiment_config",
]

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
# Fabric's data-parallel strategies (epinet_al.active_learning.distributed): `auto` picks one.
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork")
LOGGERS = ("none", "wandb")
WANDB_MODES = ("offline", "online", "disabled")
# head.prior_scale=null: the neural testbed agent's prior scale, 0.3 / task.temperature.
TESTBED_PRIOR_SCALE = 0.3


@dataclass
class TrainerConfig:
    """Lightning Fabric settings and the optimizer (a partial taking the parameters)."""

    accelerator: str = "auto"
    # Devices per node; devices x num_nodes > 1 is one data-parallel run (docs/clusters.md).
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    optimizer: Any = field(
        default_factory=lambda: {
            "_target_": "torch.optim.AdamW",
            "_partial_": True,
            "lr": 1e-3,
            "weight_decay": 0.0,
            "foreach": True,
        }
    )
    gradient_clip_norm: float | None = None
    # CPU threads for torch (null: torch's default). Results are bit-identical only at a fixed count.
    num_threads: int | None = None
    # Training batches of token inputs (full and top fine-tuning) run as groups of similar lengths, each padded
    # to at most (1 + max_padding) positions per real token: one padded batch of random sentences computes
    # mostly padding. The same update up to float rounding. null: one padded batch (fewer, larger passes).
    max_padding: float | None = 0.2

    def __post_init__(self) -> None:
        check_choice("trainer", "accelerator", self.accelerator, ACCELERATORS)
        check_positive(self, "trainer", "devices")
        check_positive(self, "trainer", "num_nodes")
        check_choice("trainer", "strategy", self.strategy, STRATEGIES)
        if self.gradient_clip_norm is not None:
            check_positive(self, "trainer", "gradient_clip_norm")
        if self.num_threads is not None:
            check_positive(self, "trainer", "num_threads")
        if self.max_padding is not None:
            check_at_least(self, "trainer", 0, "null: one padded batch", "max_padding")
        # trainer.optimizer is an open mapping (any torch optimizer's keywords): its common numbers are checked.
        optimizer = self.optimizer if isinstance(self.optimizer, dict) else {}
        for key in ("lr", "weight_decay"):
            value = optimizer.get(key)
            if value is None or _unset(value):
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
                or (key == "lr" and value == 0)
            ):
                bound = "a positive number" if key == "lr" else "a number >= 0"
                raise ValueError(f"trainer.optimizer.{key} must be {bound}, got {value!r}")


@dataclass
class LoggerConfig:
    """Experiment tracking besides curve.csv: "none" or "wandb"."""

    name: str = "none"
    project: str = "epinet-al"
    entity: str | None = None
    mode: str = "offline"  # offline (default, `wandb sync` later), online, disabled
    group: str | None = None
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_choice("logger", "name", self.name, LOGGERS)
        check_choice("logger", "mode", self.mode, WANDB_MODES)


@dataclass
class EvalConfig:
    """Evaluation of the marginal and joint predictive on held-out data, and the selection diagnostics on
    the pool (docs/heads_and_priorities.md, "Diagnostics that speak to selection")."""

    # One set of this many indices, drawn when the run starts, evaluates every point.
    num_index_samples: int = 100
    batch_size: int = 1024
    # pool/seen_unseen: the spread on at most this many labeled pool inputs over that on as many unlabeled
    # ones (0: not measured).
    seen_inputs: int = 256
    # pool/overlap_entropy and pool/overlap_index: the top overlap_top of a fixed set of overlap_candidates
    # pool inputs (both scaled down alike on a smaller pool; 0: not measured).
    overlap_candidates: int = 640
    overlap_top: int = 64
    # pool/far_unseen: the spread on the unlabeled inputs moved this many typical radii of the pool (the
    # root of the summed feature variances) along one random direction, over their spread (vector inputs:
    # the testbed, frozen features; 0: not measured).
    far_shift: float = 0.0

    def __post_init__(self) -> None:
        check_positive(self, "eval", "num_index_samples", "batch_size", "overlap_top")
        check_at_least(self, "eval", 0, "0: not measured", "seen_inputs", "overlap_candidates", "far_shift")
        if self.overlap_candidates and self.overlap_top > self.overlap_candidates:
            raise ValueError(
                f"eval.overlap_top={self.overlap_top} is larger than eval.overlap_candidates={self.overlap_candidates}"
            )


@dataclass
class ExperimentConfig:
    """One run: a task, a model with an uncertainty head, a priority and a budget."""

    task: TaskConfig = MISSING
    model: ModelConfig = MISSING
    head: HeadConfig = MISSING
    acquisition: AcquisitionConfig = field(default_factory=AcquisitionConfig)
    budget: BudgetConfig = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    # Name of the sweep this run belongs to (W&B group, report title); "adhoc" for single runs.
    sweep: str = "adhoc"
    progress_bar: bool = True
    # A run folder to continue from its last saved state (its config must match).
    resume: str | None = None
    # Keep state.pt once the run has finished (false: delete it after summary.json is written; a fine-tuned
    # encoder's state is hundreds of MB, which adds up over a benchmark's hundreds of runs).
    keep_state: bool = True

    def __post_init__(self) -> None:
        check_seed("", "seed", self.seed)


# The schemas of the groups, by option name: from the registries, plus the single-schema groups.
SCHEMAS: dict[str, dict[str, type]] = {
    "task": {spec.name: spec.config for spec in TASKS.specs()},
    "model": {spec.name: spec.config for spec in MODELS.specs()},
    "head": {spec.name: spec.config for spec in HEADS.specs()},
    "acquisition": {"acquisition": AcquisitionConfig},
    "budget": {spec.name: spec.config for spec in PROTOCOLS.specs()},
    "trainer": {"trainer": TrainerConfig},
    "logger": {"logger": LoggerConfig},
}


def register_configs() -> None:
    """Register the schemas with Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="experiment_schema", node=ExperimentConfig)
    for group, schemas in SCHEMAS.items():
        for name, node in schemas.items():
            cs.store(group=f"schema/{group}", name=name, node=node)
    # ${coalesce:a,b}: a unless it is null, else b (the run folder is `resume` when given).
    OmegaConf.register_new_resolver("coalesce", lambda a, b: b if a is None else a, replace=True)
    # ${record_subdir:}: Hydra's record of a job, kept as it was in a finished run's folder (run_folder).
    OmegaConf.register_new_resolver("record_subdir", record_subdir, replace=True)


def check_known_keys(cfg: DictConfig, schema: type = ExperimentConfig, prefix: str = "") -> None:
    """Refuse keys the schema does not have (`+budget.max_lables=5` would otherwise be dropped silently)."""
    known = [f.name for f in fields(schema)]
    for key in map(str, cfg):
        if key not in known and key != "hydra":
            where = prefix.rstrip(".") or "the config"
            raise ValueError(f"unknown key {prefix}{key}; valid keys of {where}: {', '.join(known)}")
    for key in known:
        node = cfg[key] if key in cfg and not OmegaConf.is_missing(cfg, key) else None
        node_type = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
        if isinstance(node, DictConfig) and node_type is not None and is_dataclass(node_type):
            check_known_keys(node, node_type, f"{prefix}{key}.")


def check_compatible(cfg: ExperimentConfig) -> None:
    """The rules across groups, from the components' capabilities (each group checked its own fields)."""
    task, model = TASKS.of(cfg.task), MODELS.of(cfg.model)
    head, priority = HEADS.get(cfg.head.name), PRIORITY_SPECS.get(cfg.acquisition.priority)
    if task.input_kind != model.input_kind:
        valid = next(spec.options for spec in MODELS.specs() if spec.input_kind == task.input_kind)
        raise ValueError(
            f"model={cfg.model.name!r} reads {model.input_kind}, but task {cfg.task.name!r} gives {task.input_kind}; "
            f"valid models for task={cfg.task.name}: {valid}"
        )
    if head.body_per_index and not cfg.model.trains_encoder:
        finetune = cfg.model.finetune if isinstance(cfg.model, EncoderModelConfig) else "no encoder"
        raise ValueError(
            f"head {cfg.head.name!r} re-runs the encoder once per index sample and needs an encoder that runs: "
            f"model=tiny, bert_base or minilm with model.finetune=full or top; model={cfg.model.name!r} "
            f"({finetune}) has none"
        )
    if (
        cfg.task.is_pair
        and isinstance(cfg.model, EncoderModelConfig)
        and cfg.model.pair_encoding == "separate"
        and cfg.model.trains_encoder
    ):
        raise ValueError(
            "model.pair_encoding='separate' needs model.finetune=frozen (the head reads cached features of each "
            f"sentence), got model.finetune={cfg.model.finetune!r}; use model.pair_encoding=joint to fine-tune"
        )
    if (
        isinstance(cfg.head, EpinetHeadConfig)
        and cfg.head.prior_loss_scale
        and isinstance(cfg.model, EncoderModelConfig)
        and cfg.model.trains_encoder
    ):
        raise ValueError(
            f"head.prior_loss_scale={cfg.head.prior_loss_scale} draws fake inputs for the head and needs it to read "
            "vectors: model=identity or an encoder with model.finetune=frozen, "
            f"got model.finetune={cfg.model.finetune!r}"
        )
    if priority.needs_index and not head.has_index:
        indexed = [spec.name for spec in HEADS.specs() if spec.has_index and not spec.body_per_index]
        marginal = [spec.name for spec in PRIORITY_SPECS.specs() if not spec.needs_index]
        raise ValueError(
            f"priority {priority.name!r} needs a head with an epistemic index, but head {cfg.head.name!r} has none "
            f"(its scores would all be 0); use head={', '.join(indexed[:-1])} or {indexed[-1]}, "
            f"or a marginal priority: {', '.join(marginal)}"
        )
    if cfg.task.regression and not priority.regression:
        raise not_for_regression(priority.name)


def fill_prior_scale(cfg: ExperimentConfig) -> None:
    """head.prior_scale=null: the testbed agent's 0.3 / task.temperature, written into the config (summary.json)."""
    if isinstance(cfg.head, EpinetHeadConfig) and cfg.head.prior_scale is None:
        temperature = cfg.task.label_temperature
        if temperature is None:
            raise ValueError(
                f"head.prior_scale=null means {TESTBED_PRIOR_SCALE} / task.temperature, and task {cfg.task.name!r} "
                "has no temperature; give head.prior_scale a number"
            )
        # Rounded to 12 significant digits, so that the value equals what a user writes: 0.3 / 0.1 is
        # 2.9999999999999996 in floating point, and `head.prior_scale=3` would otherwise be another setting.
        cfg.head.prior_scale = float(f"{TESTBED_PRIOR_SCALE / temperature:.12g}")


def fill_l2_scale(cfg: ExperimentConfig) -> None:
    """head.l2_scale=null: the head's rule at the width of its input features (``rule_l2_scale``), written into the
    config. A hub id's width is known once the encoder loads (``experiment.fill_encoder_l2_scale``)."""
    if cfg.head.l2_scale is None:
        width = cfg.model.feature_width if isinstance(cfg.model, EncoderModelConfig) else cfg.task.input_width
        cfg.head.l2_scale = rule_l2_scale(cfg.head.name, width, cfg.model.name)


def check_devices(trainer: TrainerConfig) -> None:
    """Refuse a GPU run on a machine without one, or more devices than it has (imports torch only then)."""
    if trainer.accelerator in ("gpu", "cuda") or (trainer.accelerator == "auto" and trainer.devices > 1):
        import torch  # imported here: only a run that asks for GPUs pays for it

        present = torch.cuda.device_count()
        if present == 0 and trainer.accelerator != "auto":
            raise ValueError(
                f"trainer.accelerator={trainer.accelerator!r} but this machine has no GPU; valid accelerators here: "
                "auto, cpu"
            )
        if present == 0:
            present = os.cpu_count() or 1
    elif trainer.accelerator == "cpu" or trainer.accelerator == "auto":
        present = os.cpu_count() or 1
    else:
        return
    if trainer.devices > present:
        raise ValueError(f"trainer.devices={trainer.devices} but this machine has {present}; valid: 1..{present}")


def to_experiment_config(cfg: DictConfig, devices: bool = True) -> ExperimentConfig:
    """The one conversion from Hydra's DictConfig to dataclasses, done at the entry point.

    Raises a one-line ValueError for any invalid config, before anything is loaded or written.
    ``devices=False`` skips the check of the devices against this machine's (a job that runs elsewhere).
    """
    check_known_keys(cfg)
    check_seed("", "seed", cfg.get("seed"))  # before the groups that take it over (task.seed)
    # Before the groups' own checks, whose range tests nan and inf pass (`trainer.optimizer.lr=nan`).
    check_finite(
        OmegaConf.to_container(OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k != "hydra"]), resolve=True)
    )
    obj = OmegaConf.to_object(cfg)
    if not isinstance(obj, ExperimentConfig):
        raise TypeError("the composed config does not follow experiment_schema")
    check_compatible(obj)
    fill_prior_scale(obj)
    fill_l2_scale(obj)
    if devices:
        check_devices(obj.trainer)
    return obj


register_configs()
