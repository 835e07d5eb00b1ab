"""The model and head options: their config dataclasses, capabilities and builders (torch-free).

Each config checks its own fields in ``__post_init__`` (run by ``OmegaConf.to_object`` at compose time);
checks across groups are in ``epinet_al.config.check_compatible``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import II, MISSING, SI

from epinet_al.networks.model_files import local_config_value
from epinet_al.registry import (
    HeadSpec,
    L2Rule,
    ModelSpec,
    Registry,
    _unset,
    check_at_least,
    check_choice,
    check_positive,
    check_seed,
)

POOLINGS = ("pooler", "cls", "mean")
FINETUNE_MODES = ("full", "top", "frozen")
LR_SCHEDULES = ("constant", "linear")
PAIR_ENCODINGS = ("joint", "separate")
# The epinet's bootstrap weights (epinet_al/models/bootstrap.py, which imports torch).
BOOTSTRAPS = ("none", "bernoulli", "exponential")

# ---------------------------------------------------------------- model (the feature extractor)


@dataclass
class ModelConfig:
    """What every model config has: its name, and whether an encoder trains with the head."""

    name: str = MISSING

    @property
    def trains_encoder(self) -> bool:
        """Whether an encoder (all of it, or its top layers) is the ENN's body rather than computing cached
        features (frozen) or being absent (the testbed)."""
        return False


@dataclass
class IdentityModelConfig(ModelConfig):
    """No encoder: the head reads the task's input vectors directly (the testbed)."""

    name: str = "identity"


@dataclass
class EncoderModelConfig(ModelConfig):
    """A Hugging Face encoder (AutoModel): its pooled features [B, F] feed the head."""

    # A hub id (bert-base-uncased), a local folder, or pkg://<package>/<folder> inside an installed package.
    path: str = MISSING
    # false: random weights from the path's config with config_overrides applied, drawn with init_seed
    # (the tests' tiny BERT); the seed keeps a random frozen encoder's cached features valid.
    pretrained: bool = True
    config_overrides: dict[str, Any] = field(default_factory=dict)
    init_seed: int = 0
    # The longest input the encoder takes; inputs are cut to min(task.max_length, model.max_length).
    max_length: int = 512
    # "full": the encoder trains with the head; "top": its top trainable_layers layers (and the pooler when
    # pooling=pooler) train with the head on the lower layers' outputs, computed once and cached; "frozen":
    # features computed once and cached, the head trains alone.
    finetune: str = "frozen"
    # finetune=top: how many of the encoder's top layers train (1 .. its number of layers); null otherwise.
    trainable_layers: int | None = None
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
    # The learning-rate schedule of full fine-tuning, one rule for every protocol: "constant" (the same rate at
    # every step), or BERT's recipe, "linear": warmup over warmup_ratio of each fit's steps, then linear decay to
    # 0. A fit is one subset or pool round, but the whole anytime run of the prioritized loop: with "linear" its
    # evaluation points fall mid-schedule while every subset fit is evaluated annealed, so "constant" is the
    # default (issue 24). Frozen mode: constant.
    lr_schedule: str = "constant"
    warmup_ratio: float = 0.1
    # Examples per encoder pass at inference (frozen features, evaluation); 64 is fastest on a CPU, a GPU
    # wants more.
    batch_size: int = 64
    # Tokenized splits and frozen features, keyed by a hash of everything they depend on.
    cache_dir: str = SI("${oc.env:EPINET_AL_CACHE,'~/.cache/epinet-al'}")

    def __post_init__(self) -> None:
        check_choice("model", "finetune", self.finetune, FINETUNE_MODES)
        check_choice("model", "pooling", self.pooling, POOLINGS)
        check_choice("model", "pair_encoding", self.pair_encoding, PAIR_ENCODINGS)
        check_choice("model", "lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_positive(self, "model", "batch_size", "lr")
        check_at_least(self, "model", 2, "a token budget", "max_length")
        check_at_least(self, "model", 0, "0: no decay", "weight_decay")
        check_seed("model", "init_seed", self.init_seed)
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"model.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.dropout_rate is not None and not 0 <= self.dropout_rate < 1:
            raise ValueError(
                f"model.dropout_rate must be in [0, 1) or null (the checkpoint's), got {self.dropout_rate}"
            )
        if self.finetune == "top":
            if self.trainable_layers is None:
                raise ValueError(
                    "model.finetune=top needs model.trainable_layers=k, the number of the encoder's top layers that "
                    "train (e.g. model.trainable_layers=2)"
                )
            if not _unset(self.path):  # a hub id's layer count is known once its config is loaded
                check_trainable_layers(self, local_config_value(self.path, self.config_overrides, "num_hidden_layers"))
        elif self.trainable_layers is not None and not _unset(self.trainable_layers):
            raise ValueError(
                f"model.trainable_layers={self.trainable_layers} applies to model.finetune=top, got "
                f"model.finetune={self.finetune!r}; drop it or use model.finetune=top"
            )

    @property
    def trains_encoder(self) -> bool:
        return self.finetune in ("full", "top")

    @property
    def feature_width(self) -> int | None:
        """The width H of the pooled features of one sentence, from the local config.json (None: a hub id)."""
        return local_config_value(self.path, self.config_overrides, "hidden_size")


def check_trainable_layers(cfg: EncoderModelConfig, layers: int | None) -> None:
    """Refuse ``model.trainable_layers`` outside 1..``layers`` (the encoder's layer count; None: not known yet)."""
    wanted = cfg.trainable_layers
    if wanted is None or wanted < 1 or (layers is not None and wanted > layers):
        valid = f"1..{layers}" if layers is not None else "at least 1"
        where = f" ({layers} layers)" if layers is not None else ""
        raise ValueError(
            f"model.trainable_layers={cfg.trainable_layers} is out of range for model={cfg.name}{where}; valid: {valid}"
        )


MODELS = Registry(
    "model",
    [
        ModelSpec("identity", IdentityModelConfig, input_kind="vectors", options="identity"),
        ModelSpec("encoder", EncoderModelConfig, input_kind="text", options="minilm (offline), bert_base, tiny"),
    ],
)

# ---------------------------------------------------------------- head (the uncertainty head)


@dataclass
class HeadConfig:
    """What every head has: the base MLP's hidden widths, n_z and the L2 multiplier."""

    name: str = MISSING
    hidden: list[int] = field(default_factory=lambda: [50, 50])
    # Index samples per training step (n_z); the loss is averaged over them.
    train_index_samples: int = 1
    # Multiplier on the head's reference L2 term s(N) * sum(theta^2) (Head.reference_l2); 0: no L2 term.
    # null: the head's rule at the width of its input features (rule_l2_scale), written into the resolved config.
    l2_scale: float | None = None

    def __post_init__(self) -> None:
        check_positive(self, "head", "train_index_samples")
        if self.l2_scale is not None:
            check_at_least(self, "head", 0, "0: no L2 term", "l2_scale")
        if self.hidden != MISSING and any(width <= 0 for width in self.hidden):
            raise ValueError(f"head.hidden widths must be positive integers, got {list(self.hidden)}")


def _check_dropout(config: Any) -> None:
    if not 0 <= config.dropout_rate < 1:
        raise ValueError(f"head.dropout_rate must be in [0, 1), got {config.dropout_rate}")
    if config.hidden != MISSING and not config.hidden:
        raise ValueError("head.hidden=[]: a dropout head needs at least one hidden layer to drop units from")


@dataclass
class MLPHeadConfig(HeadConfig):
    """Plain classifier head, no epistemic index."""

    name: str = "mlp"


@dataclass
class EpinetHeadConfig(HeadConfig):
    """Base MLP head plus epinet and frozen prior (defaults: the BERT heads of the paper)."""

    name: str = "epinet"
    index_dim: int = 30
    epinet_hidden: list[int] = field(default_factory=lambda: [50, 50])
    # Feed the base head's last hidden layer to the epinet as well as its input features.
    include_hidden: bool = False
    # "mlp": an MLP on concat[z, phi] like the epinet; "ensemble": index_dim small MLPs on the input.
    prior: str = "mlp"
    prior_hidden: list[int] = field(default_factory=lambda: [50, 50])
    # null: 0.3 / task.temperature, the neural testbed's agent (filled in by epinet_al.config).
    prior_scale: float | None = 1.0
    train_index_samples: int = II(".index_dim")
    # The learnable epinet's L2 term relative to the base's: s(N) * l2_scale * (sum theta_base^2 +
    # epinet_l2_factor * sum theta_epinet^2); 1 is the reference (one weight for both).
    epinet_l2_factor: float = 1.0
    # The epinet and its prior read their input layer-normalised (mean 0, variance 1 over its features per
    # input, no parameters): on 384-d encoder features of norm about 4 the 30-d index otherwise dominates
    # their first layer (docs/benchmarks.md, the SST-2 search).
    epinet_layer_norm: bool = False
    # The reference library's loss variants (google-deepmind/enn losses; epinet_al/models/enn_module.py):
    # bootstrap weights of each example for each index ("none", "bernoulli", "exponential"), and the prior
    # loss on fake N(0, I) inputs (0: none; vector inputs only: the testbed, frozen features).
    bootstrap: str = "none"
    prior_loss_scale: float = 0.0

    def __post_init__(self) -> None:
        check_positive(self, "head", "index_dim")  # first: train_index_samples follows it
        super().__post_init__()
        check_choice("head", "prior", self.prior, ("mlp", "ensemble"))
        for key in ("epinet_hidden", "prior_hidden"):
            widths = getattr(self, key)
            if widths != MISSING and any(width <= 0 for width in widths):
                raise ValueError(f"head.{key} widths must be positive integers, got {list(widths)}")
        if self.prior_scale is not None:
            check_at_least(self, "head", 0, "0: no prior", "prior_scale")
        check_at_least(self, "head", 0, "0: no L2 on the epinet", "epinet_l2_factor")
        check_at_least(self, "head", 0, "0: no prior loss", "prior_loss_scale")
        check_choice("head", "bootstrap", self.bootstrap, BOOTSTRAPS)


@dataclass
class DropoutHeadConfig(HeadConfig):
    """MC dropout on the base MLP head's hidden units; the index is one mask shared by the batch."""

    name: str = "dropout"
    dropout_rate: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_dropout(self)


@dataclass
class EnsembleHeadConfig(HeadConfig):
    """ensemble_size independent MLP heads on the same features; the index is a member id."""

    name: str = "ensemble"
    ensemble_size: int = 10
    # Member ids per training step, drawn without repeats: ensemble_size trains every member each step.
    train_index_samples: int = II(".ensemble_size")

    def __post_init__(self) -> None:
        check_positive(self, "head", "ensemble_size")  # first: train_index_samples follows it
        super().__post_init__()


@dataclass
class EncoderDropoutHeadConfig(HeadConfig):
    """MC dropout in the encoder and the head: the index seeds the masks; the encoder runs once per index."""

    name: str = "encoder_dropout"
    dropout_rate: float = 0.1  # the head's hidden units; the encoder's rate is model.dropout_rate

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_dropout(self)


# The L2 rules: MiniLM's scales chosen on SST-2's tune split (frozen features, 100/400/1,600 labels, 3 seeds;
# docs/benchmarks.md, "The training recipe on GLUE"). encoder_dropout is the plain head's MLP on the same features
# and takes its scale (not tuned separately: it needs a fine-tuned encoder).
_LINEAR_IN_D = L2Rule(tuned=0.01, exponent=1.0)  # s(N) = sqrt(rho) D / N, or D / (M N) for an ensemble

HEADS = Registry(
    "head",
    [
        HeadSpec(
            "mlp", MLPHeadConfig, "epinet_al.networks.head:MLPHead.from_config", has_index=False, l2_rule=_LINEAR_IN_D
        ),
        HeadSpec(
            "epinet",
            EpinetHeadConfig,
            "epinet_al.networks.epinet:EpinetHead.from_config",
            has_index=True,
            l2_rule=L2Rule(tuned=0.1, exponent=0.7),  # s(N) = 0.2 (D / N)^0.7
        ),
        HeadSpec(
            "dropout",
            DropoutHeadConfig,
            "epinet_al.networks.dropout:DropoutHead.from_config",
            has_index=True,
            l2_rule=_LINEAR_IN_D,
        ),
        HeadSpec(
            "ensemble",
            EnsembleHeadConfig,
            "epinet_al.networks.ensemble:EnsembleHead.from_config",
            has_index=True,
            l2_rule=_LINEAR_IN_D,
        ),
        HeadSpec(
            "encoder_dropout",
            EncoderDropoutHeadConfig,
            "epinet_al.networks.encoder_dropout:EncoderDropoutHead.from_config",
            has_index=True,
            body_per_index=True,
            l2_rule=_LINEAR_IN_D,
        ),
    ],
)

# head.l2_scale=null: the reference recipe's s(N) (README, "The training recipe") was made for the testbed's
# D = 2-100 inputs and takes scale 1 there; on wider features scale 1 flattens a head to the majority class, and
# the head's L2Rule gives the scale.
REFERENCE_MAX_WIDTH = 100
TUNED_WIDTH = 384


def rule_l2_scale(head: str, width: int | None, model: str) -> float | None:
    """``head.l2_scale`` for head ``head`` on ``width``-d input features of ``model`` (None: a width known only
    once the encoder loads, and then None if the head has a rule). Rounded to one significant digit: the tuned
    scales come from a grid of powers of 10 and say no more. ValueError for a head without a rule on wide
    features."""
    spec = HEADS.get(head)
    if width is not None and width <= REFERENCE_MAX_WIDTH:
        return 1.0
    if spec.l2_rule is None:
        features = f"{width}-d features" if width is not None else "its features"
        raise ValueError(
            f"head {head!r} has no rule for head.l2_scale on model={model}'s {features} (the reference scale 1 "
            f"flattens a head on features wider than {REFERENCE_MAX_WIDTH}); give head.l2_scale=<scale>, or the "
            "head's HeadSpec an l2_rule"
        )
    if width is None:
        return None
    return float(f"{spec.l2_rule.tuned * (TUNED_WIDTH / width) ** spec.l2_rule.exponent:.1g}")
