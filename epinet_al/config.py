"""Typed configuration: one dataclass schema per config group option, converted once at the entry point.

Every YAML file under ``conf/<group>/`` starts from the schema registered here as
``schema/<group>/<name>``, so Hydra rejects a misspelt key or a wrong type while composing, and the
code below the entry point only ever sees these dataclasses (``to_experiment_config``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

# ---------------------------------------------------------------- task


@dataclass
class TestbedTaskConfig:
    """The synthetic neural-testbed problem: x ~ N(0, I_D), y ~ softmax(h(x) / temperature)."""

    name: str = "testbed"
    input_dim: int = 10
    num_classes: int = 2
    temperature: float = 0.1
    pool_size: int = 200
    test_size: int = 1000
    # Dyadic sampling for the joint log-loss: batches of tau inputs drawn from kappa anchor points.
    num_joint_batches: int = 1000
    tau: int = 10
    kappa: int = 2
    # The problem's seed (generative network, pool, test set); `${seed}` gives one problem per seed.
    seed: int = 0


@dataclass
class GlueTaskConfig:
    """A GLUE task (epinet_al.data.glue_tasks): the pool from one split, evaluation on the dev splits."""

    name: str = MISSING  # the GLUE id: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli
    # "local": TSV files in the GLUE layout under data_dir; "hub": the Hugging Face `glue` dataset.
    source: str = "local"
    data_dir: str | None = None  # the YAML default reads the GLUE_DIR environment variable
    pool_split: str = "train"
    # Labelled splits evaluated at every curve point, reported as val (MNLI val_matched, val_mismatched).
    eval_splits: list[str] = MISSING
    # Random subsets for quick runs on large tasks (0: the whole split), drawn with `seed`.
    max_pool_size: int = 0
    max_eval_size: int = 0
    # Examples carved out of the pool split (drawn with `seed`) that are never acquired: a labelled split
    # for choosing hyperparameters, evaluated at every curve point as tune/<metric> (0: none).
    tune_size: int = 0
    # Token budget per example (pairs are truncated longest first); also capped by model.max_length.
    max_length: int = 128
    seed: int = 0


# ---------------------------------------------------------------- model (the feature extractor)


@dataclass
class IdentityModelConfig:
    """No encoder: the head reads the task's input vectors directly (the testbed)."""

    name: str = "identity"


@dataclass
class EncoderModelConfig:
    """A Hugging Face encoder (AutoModel): its pooled features [B, F] feed the head."""

    name: str = MISSING
    # A hub id (bert-base-uncased), a local folder, or pkg://<package>/<folder> inside an installed package.
    path: str = MISSING
    # false: random weights from the path's config with config_overrides applied, drawn with init_seed
    # (the tests' tiny BERT); the seed keeps a random frozen encoder's cached features valid.
    pretrained: bool = True
    config_overrides: dict[str, Any] = field(default_factory=dict)
    init_seed: int = 0
    # The longest input the encoder takes; inputs are cut to min(task.max_length, model.max_length).
    max_length: int = 512
    # "full": the encoder trains with the head; "frozen": features computed once and cached, the head trains alone.
    finetune: str = "frozen"
    # "pooler": BERT's pooled output tanh(W h_CLS + b), the reference's features; "cls": the [CLS] hidden
    # state (for encoders without a trained pooler, such as MiniLM); "mean": mean of the token states.
    pooling: str = "cls"
    # Sentence pairs: "joint" encodes [CLS] a [SEP] b [SEP] at once; "separate" (finetune=frozen only) pools
    # each sentence alone and feeds the head [u, v, |u - v|, u * v] (width 4F), sentence-transformers' pair
    # classifier input, for encoders trained to embed one sentence (MiniLM). Single-sentence tasks ignore it.
    pair_encoding: str = "joint"
    # Rate of every dropout layer in the encoder (null: the checkpoint's); head=encoder_dropout samples it.
    dropout_rate: float | None = None
    # The encoder's parameter group in full fine-tuning (the head keeps trainer.optimizer's settings);
    # biases and LayerNorm weights get no weight decay.
    lr: float = 2e-5
    weight_decay: float = 0.01
    # Frozen mode: standardise each feature with the mean and sd of the pool's features (inputs only, never
    # labels), so that no direction of an anisotropic embedding dominates the head, the epinet and its prior.
    standardize: bool = False
    # The learning-rate schedule of full fine-tuning (BERT's recipe): linear warmup over warmup_ratio of each
    # fit's steps, then linear decay to 0 ("linear"), or a constant rate ("constant"). Frozen mode: constant.
    lr_schedule: str = "linear"
    warmup_ratio: float = 0.1
    # Examples per encoder pass at inference (frozen features, evaluation); 64 is fastest on a CPU, a GPU
    # wants more.
    batch_size: int = 64
    # Tokenized splits and frozen features, keyed by a hash of everything they depend on.
    cache_dir: str = "~/.cache/epinet-al"


# ---------------------------------------------------------------- head (the uncertainty head)


@dataclass
class MLPHeadConfig:
    """Plain classifier head, no epistemic index."""

    name: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [50, 50])
    # Index samples per training step (n_z); a plain head has one network, so 1.
    train_index_samples: int = 1
    # Multiplier on the head's reference L2 term s(N) * sum(theta^2) (Head.reference_l2); 0: no L2 term.
    l2_scale: float = 1.0


@dataclass
class EpinetHeadConfig:
    """Base MLP head plus epinet and frozen prior (defaults: the BERT heads of the paper)."""

    name: str = "epinet"
    hidden: list[int] = field(default_factory=lambda: [50, 50])
    index_dim: int = 30
    epinet_hidden: list[int] = field(default_factory=lambda: [50, 50])
    # Feed the base head's last hidden layer to the epinet as well as its input features.
    include_hidden: bool = False
    # "mlp": an MLP on concat[z, phi] like the epinet; "ensemble": index_dim small MLPs on the input.
    prior: str = "mlp"
    prior_hidden: list[int] = field(default_factory=lambda: [50, 50])
    prior_scale: float = 1.0
    # Index samples per training step (n_z); the loss is averaged over them. Defaults to index_dim.
    train_index_samples: int = 30
    # Multiplier on the head's reference L2 term s(N) * sum(theta^2) (Head.reference_l2); 0: no L2 term.
    l2_scale: float = 1.0


@dataclass
class DropoutHeadConfig:
    """MC dropout on the base MLP head's hidden units; the index is one mask shared by the batch."""

    name: str = "dropout"
    hidden: list[int] = field(default_factory=lambda: [50, 50])
    dropout_rate: float = 0.1
    # Masks per training step; 1 is ordinary dropout training.
    train_index_samples: int = 1
    # Multiplier on the head's reference L2 term s(N) * sum(theta^2) (Head.reference_l2); 0: no L2 term.
    l2_scale: float = 1.0


@dataclass
class EnsembleHeadConfig:
    """ensemble_size independent MLP heads on the same features; the index is a member id."""

    name: str = "ensemble"
    hidden: list[int] = field(default_factory=lambda: [50, 50])
    ensemble_size: int = 10
    # Member ids per training step, drawn without repeats: ensemble_size trains every member each step.
    train_index_samples: int = 10
    # Multiplier on the head's reference L2 term s(N) * sum(theta^2) (Head.reference_l2); 0: no L2 term.
    l2_scale: float = 1.0


@dataclass
class EncoderDropoutHeadConfig:
    """MC dropout in the encoder and the head: the index seeds the masks; the encoder runs once per index."""

    name: str = "encoder_dropout"
    hidden: list[int] = field(default_factory=lambda: [50, 50])
    dropout_rate: float = 0.1  # the head's hidden units; the encoder's rate is model.dropout_rate
    # Masks per training step; 1 is ordinary dropout training (each costs an encoder pass).
    train_index_samples: int = 1
    # Multiplier on the head's reference L2 term s(N) * sum(theta^2) (Head.reference_l2); 0: no L2 term.
    l2_scale: float = 1.0


# ---------------------------------------------------------------- acquisition


@dataclass
class AcquisitionConfig:
    """Which priority function scores the candidates, from how many index samples (A)."""

    priority: str = MISSING
    num_index_samples: int = 100
    # How scores become a batch: "topk", or a stochastic order ("softmax", "power", "softrank").
    selection: str = "topk"
    temperature: float = 1.0
    # Target inputs for priorities that need them (epig): drawn from the unlabeled pool per scoring call.
    num_targets: int = 100


# ---------------------------------------------------------------- budget (the protocol and its sizes)


@dataclass
class PrioritizedBudgetConfig:
    """The paper's loop: per step, score a random candidate batch and train on the top ones."""

    protocol: str = "prioritized"
    # Label budget: distinct examples whose label may be revealed; 0: no cap (the whole pool, the paper's
    # anytime curve: labels used = distinct examples revealed after max_steps).
    max_labels: int = 100
    candidate_batch_size: int = 100  # N: candidates drawn per step, uniformly without replacement
    batch_size: int = 10  # n: top-scored candidates labeled and trained on per step
    max_steps: int = 1000  # SGD steps in all; after the budget is spent, only labeled data is used
    eval_labels: list[int] = field(default_factory=lambda: [10, 20, 40, 60, 80, 100])
    eval_every: int = 0  # also evaluate every this many steps (0: only at eval_labels and the end)
    # Batches once the budget is spent: "priority" (the paper's loop: the top n of N labeled candidates)
    # or "uniform" (n labeled examples at random: plain training on the acquired set).
    replay: str = "priority"
    # Candidates per forward pass when scoring; token inputs are sorted by length into the passes.
    score_batch_size: int = 1024


@dataclass
class PoolBudgetConfig:
    """The pool-based protocol of other active-learning libraries, in rounds.

    A seeded random initial labeled set; each round trains on all labeled data, evaluates, then
    scores the unlabeled pool (or a random subsample of it) and labels the top acquire_size.
    """

    protocol: str = "pool"
    max_labels: int = 100
    initial_labels: int = 10
    acquire_size: int = 10  # k: labels acquired per round
    # SGD steps per round on the labeled set, in minibatches drawn from the labeled set reshuffled epoch
    # after epoch (an example repeats within a batch when fewer than batch_size are labeled: the reference fit).
    train_steps: int = 1000
    batch_size: int = 100
    reinitialize: bool = True  # retrain from the initial weights each round (else warm start)
    pool_subsample: int = 0  # score only this many random unlabeled examples per round (0: all)
    score_batch_size: int = 1024  # candidates scored per forward pass


@dataclass
class SubsetBudgetConfig:
    """The baseline without prioritization: fixed random subsets of the pool, each trained from scratch.

    Nested subsets (the first N of one seeded permutation of the pool) of sizes ``fractions`` of the pool
    (or ``sizes`` when given); each is trained from the initial weights for ``train_steps`` steps (or
    ``epochs`` passes when train_steps is 0, the paper's 10 epochs) and evaluated once: one curve point per size.
    """

    protocol: str = "subset"
    fractions: list[float] = field(default_factory=lambda: [0.05, 0.15, 0.5])
    sizes: list[int] = field(default_factory=list)
    train_steps: int = 1000
    epochs: float = 0.0
    batch_size: int = 100


# ---------------------------------------------------------------- plumbing


@dataclass
class TrainerConfig:
    """Lightning Fabric settings and the optimizer (a partial taking the parameters)."""

    accelerator: str = "auto"
    devices: int = 1
    precision: str = "32-true"
    optimizer: Any = field(
        default_factory=lambda: {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3, "weight_decay": 0.0}
    )
    gradient_clip_norm: float | None = None
    # CPU threads for torch (null: torch's default). Results are bit-identical only at a fixed count.
    num_threads: int | None = None


@dataclass
class LoggerConfig:
    """Experiment tracking besides curve.csv: "none" or "wandb"."""

    name: str = "none"
    project: str = "epinet-al"
    entity: str | None = None
    mode: str = "offline"  # offline (default, `wandb sync` later), online, disabled
    group: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class EvalConfig:
    """Evaluation of the marginal and joint predictive on held-out data."""

    num_index_samples: int = 100
    batch_size: int = 1024


@dataclass
class ExperimentConfig:
    """One run: a task, a model with an uncertainty head, a priority and a budget."""

    task: Any = MISSING
    model: Any = MISSING
    head: Any = MISSING
    acquisition: AcquisitionConfig = field(default_factory=AcquisitionConfig)
    budget: Any = MISSING
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


_SCHEMAS: dict[str, dict[str, type]] = {
    "task": {"testbed": TestbedTaskConfig, "glue": GlueTaskConfig},
    "model": {"identity": IdentityModelConfig, "encoder": EncoderModelConfig},
    "head": {
        "mlp": MLPHeadConfig,
        "epinet": EpinetHeadConfig,
        "dropout": DropoutHeadConfig,
        "ensemble": EnsembleHeadConfig,
        "encoder_dropout": EncoderDropoutHeadConfig,
    },
    "acquisition": {"acquisition": AcquisitionConfig},
    "budget": {"prioritized": PrioritizedBudgetConfig, "pool": PoolBudgetConfig, "subset": SubsetBudgetConfig},
    "trainer": {"trainer": TrainerConfig},
    "logger": {"logger": LoggerConfig},
}


def register_configs() -> None:
    """Register the schemas with Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="experiment_schema", node=ExperimentConfig)
    for group, schemas in _SCHEMAS.items():
        for name, node in schemas.items():
            cs.store(group=f"schema/{group}", name=name, node=node)
    OmegaConf.register_new_resolver("div", lambda a, b: float(a) / float(b), replace=True)
    # ${coalesce:a,b}: a unless it is null, else b (the run folder is `resume` when given).
    OmegaConf.register_new_resolver("coalesce", lambda a, b: b if a is None else a, replace=True)


def to_experiment_config(cfg: DictConfig) -> ExperimentConfig:
    """The one conversion from Hydra's DictConfig to dataclasses, done at the entry point."""
    obj = OmegaConf.to_object(cfg)
    if not isinstance(obj, ExperimentConfig):
        raise TypeError("the composed config does not follow experiment_schema")
    return obj


register_configs()
