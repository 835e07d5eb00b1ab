"""task=<GLUE id>: a GLUE task read through a Hugging Face encoder.

The pool is ``task.pool_split`` (train) with its labels hidden behind the ledger; the evaluator scores
``task.eval_splits`` (the dev sets; GLUE test labels are hidden) with the task's metrics as
``val/<metric>`` (MNLI: ``val_matched/<metric>`` and ``val_mismatched/<metric>``), from the marginal
prediction over A index samples: the mean of the A softmaxes, or of the A outputs for STS-B.

Three modes, by ``model.finetune``:
- ``frozen``: the pool and the evaluation sets hold the encoder's pooled features [N, F], computed
  once under inference mode and cached on disk; the body is the identity and the head trains alone.
  A sentence pair is encoded by ``model.pair_encoding``: ``joint`` ([CLS] a [SEP] b [SEP], features
  [N, F]) or ``separate`` (each sentence alone, cached like a single-sentence split, and the head reads
  ``pair_features``: [N, 4F]).
- ``top``: they hold the hidden states of the encoder's layer L - k at each example's real length
  (``data/state_cache.py``: computed once by the lower layers, cached on disk, padded per batch); the top
  k layers are the body and train with the head.
- ``full``: they hold token ids (tokenized once, cached on disk, padded per batch); the encoder is the
  body and trains with the head; scoring a candidate batch runs it once under inference mode.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from epinet_al.data.disk_cache import cache_file
from epinet_al.data.feature_cache import cached_features
from epinet_al.data.glue_files import (
    GLUE_DIR_ENV,
    SUPPLEMENTARY_SPLITS,
    GlueFormatError,
    TextExamples,
    glue_file_path,
    load_glue_split,
    load_glue_split_from_hub,
)
from epinet_al.data.glue_tasks import GlueTask, get_glue_task, report_split_name
from epinet_al.data.inputs import Inputs, SequenceInputs, TensorInputs
from epinet_al.data.state_cache import cached_states
from epinet_al.data.text_inputs import cached_tokenize
from epinet_al.metrics import dyadic_batches, glue_metrics, joint_nll, predict_outputs
from epinet_al.metrics.uncertainty import uncertainty_diagnostics
from epinet_al.networks.encoder import (
    LowerLayers,
    build_encoder_body,
    encoder_identity,
    encoder_layer_count,
    load_tokenizer,
    tokenizer_identity,
)
from epinet_al.networks.specs import EncoderModelConfig, check_trainable_layers
from epinet_al.tasks.specs import GlueTaskConfig
from epinet_al.tasks.task import ActiveLearningTask

log = logging.getLogger(__name__)

# The split carved out of the pool for choosing hyperparameters (GLUE's dev split is reported as val).
TUNE_SPLIT = "tune"


@dataclass
class EvalSplit:
    """One labelled evaluation set: reported ``name`` (val), inputs, labels [N], index batches to run
    (together each of 0..N-1 once, see ``predict_outputs``)."""

    name: str
    inputs: Inputs
    labels: torch.Tensor
    batches: list[torch.Tensor]


class GlueEvaluator:
    """The task's metrics and the uncertainty diagnostics on every evaluation split, from the outputs
    [A, N, C] of A index samples (one forward pass per split).

    Classification splits also get ``joint_nll`` on dyadic batches of their inputs with their real
    labels (``dyadic_batches``), drawn once from ``seed`` so that every evaluation point scores the
    same batches.
    """

    def __init__(self, task: GlueTask, splits: list[EvalSplit], seed: int):
        self.task = task
        self.splits = splits
        generator = torch.Generator().manual_seed(seed)
        self.joint_batches = [None if task.is_regression else dyadic_batches(len(s.labels), generator) for s in splits]

    def __call__(self, predict: Callable[[Any], torch.Tensor]) -> dict[str, float]:
        metrics = {}
        for split, joint_batches in zip(self.splits, self.joint_batches, strict=True):
            outputs = predict_outputs(predict, split.inputs, split.batches)  # [A, N, C]
            values = glue_metrics(self.task, outputs, split.labels)
            if joint_batches is not None:
                values["joint_nll"] = joint_nll(outputs[:, joint_batches], split.labels[joint_batches])
            values.update(uncertainty_diagnostics(outputs, split.labels, regression=self.task.is_regression))
            metrics.update({f"{split.name}/{name}": value for name, value in values.items()})
        return metrics


def pair_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """[u, v, |u - v|, u * v] [N, 4F] from the features u, v [N, F] of the two sentences of N pairs.

    The pair classifier's input in sentence-transformers (SBERT's softmax loss: u, v, |u - v| and
    optionally u * v): the last two parts do not change when the sentences swap places.
    """
    return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)


class FrozenEncoder:
    """A frozen network's outputs of token batches (pooled features, or the lower layers' hidden states) under
    inference mode, on the CPU; the network (``build()``) is loaded on the first call.

    With every output already cached, a run never loads the encoder at all.
    """

    def __init__(self, build: Callable[[], torch.nn.Module], device: torch.device):
        self.build = build
        self.device = device
        self.body: torch.nn.Module | None = None

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.body is None:
            self.body = self.build().to(self.device).eval()
        with torch.inference_mode():
            return self.body({k: v.to(self.device) for k, v in batch.items()}).float().cpu()


def build_glue_task(
    cfg: GlueTaskConfig, model_cfg: EncoderModelConfig, eval_cfg: Any, device: torch.device | None = None
) -> ActiveLearningTask:
    """The GLUE task ``cfg.name`` as an active-learning task for the encoder of ``model_cfg``.

    The configs were checked when they were composed (``epinet_al.config.to_experiment_config``).
    """
    task = get_glue_task(cfg.name)
    data_dir = _data_dir(cfg) if cfg.source == "local" else None
    # Every file the task needs is read (and checked) before anything is encoded, which takes minutes.
    pool_examples = _load_split(task, cfg.pool_split, data_dir)
    eval_examples = {split: _load_split(task, split, data_dir) for split in cfg.eval_splits}
    tokenizer = load_tokenizer(model_cfg)
    tokenizer_key = tokenizer_identity(tokenizer)
    max_length = min(cfg.max_length, model_cfg.max_length)
    device = device or torch.device("cpu")
    frozen = FrozenEncoder(lambda: build_encoder_body(model_cfg), device) if model_cfg.finetune == "frozen" else None
    if model_cfg.finetune == "top":  # the layer count from the encoder's config alone: checked before any work
        layers = encoder_layer_count(model_cfg)
        check_trainable_layers(model_cfg, layers)
        cached_layer = layers - (model_cfg.trainable_layers or 0)  # given: checked just above
        lower = FrozenEncoder(lambda: LowerLayers(model_cfg), device)

    def features(name: str, examples: TextExamples, rows: torch.Tensor) -> torch.Tensor:
        """The frozen features [R, F] of ``rows`` of texts (single or joined pairs), from the caches of ``name``."""
        tokens, key = cached_tokenize(tokenizer, tokenizer_key, examples, max_length, model_cfg.cache_dir, name)
        assert frozen is not None  # features are computed in frozen mode only
        feature_key = {"tokens": key, "encoder": encoder_identity(model_cfg)}
        path = cache_file(model_cfg.cache_dir, "features", f"{name}-{model_cfg.name}-{model_cfg.pooling}", feature_key)
        return cached_features(path, tokens, rows, frozen, model_cfg.batch_size, name)

    def states(name: str, examples: TextExamples, row_sets: list[torch.Tensor]) -> list[SequenceInputs]:
        """The cached hidden states of layer ``cached_layer`` of each set of rows, from the caches of ``name``."""
        tokens, key = cached_tokenize(tokenizer, tokenizer_key, examples, max_length, model_cfg.cache_dir, name)
        # The lower layers' outputs do not depend on the pooling: one file serves every pooling.
        encoder = {k: v for k, v in encoder_identity(model_cfg).items() if k != "pooling"}
        key = {"tokens": key, "encoder": encoder, "layer": cached_layer}
        path = cache_file(model_cfg.cache_dir, "states", f"{name}-{model_cfg.name}-layer{cached_layer}", key)
        label = f"{name}, {model_cfg.name} " + (f"layers 1-{cached_layer}" if cached_layer else "embeddings")
        return cached_states(path, tokens, row_sets, lower, model_cfg.batch_size, label)

    def encode(split: str, examples: TextExamples, *row_sets: torch.Tensor) -> list[tuple[Inputs, torch.Tensor]]:
        """The model inputs and labels of each set of rows of a split: token ids, cached hidden states of the
        lower layers, or cached frozen features.

        The split's caches are read once for all the sets (the pool and the tune split).
        """
        name = f"{task.name}-{split}"
        if model_cfg.finetune == "top":
            inputs = states(name, examples, list(row_sets))
            return [(part, examples.labels[rows]) for part, rows in zip(inputs, row_sets, strict=True)]
        if frozen is None:
            tokens, _ = cached_tokenize(tokenizer, tokenizer_key, examples, max_length, model_cfg.cache_dir, name)
            return [(tokens.subset(rows), examples.labels[rows]) for rows in row_sets]
        all_rows = torch.cat(row_sets)
        if examples.text_b is not None and model_cfg.pair_encoding == "separate":
            # Each side is cached as a single-sentence split of its own; the pair features cost one cat.
            side_a = features(f"{name}-a", replace(examples, text_b=None), all_rows)
            side_b = features(f"{name}-b", replace(examples, text_a=examples.text_b, text_b=None), all_rows)
            all_features = pair_features(side_a, side_b)
        else:
            all_features = features(name, examples, all_rows)
        parts = all_features.split([rows.shape[0] for rows in row_sets])
        return [(TensorInputs(part), examples.labels[rows]) for part, rows in zip(parts, row_sets, strict=True)]

    def eval_split(name: str, inputs: Inputs, labels: torch.Tensor) -> EvalSplit:
        batch_size = model_cfg.batch_size if isinstance(inputs, SequenceInputs) else eval_cfg.batch_size
        return EvalSplit(name, inputs, labels, _batches(inputs, batch_size))

    tune_rows, pool_rows = _carve_tune_rows(
        _subsample(len(pool_examples), cfg.max_pool_size, cfg.seed, cfg.pool_split), cfg
    )
    row_sets = [pool_rows, tune_rows] if tune_rows.numel() else [pool_rows]
    (pool, pool_labels), *tune = encode(cfg.pool_split, pool_examples, *row_sets)
    standardize = _standardizer(pool) if frozen is not None and model_cfg.standardize else (lambda inputs: inputs)
    pool = standardize(pool)
    eval_splits = []
    for split, examples in eval_examples.items():
        rows = _subsample(len(examples), cfg.max_eval_size, cfg.seed, split)
        inputs, labels = encode(split, examples, rows)[0]
        eval_splits.append(eval_split(report_split_name(split), standardize(inputs), labels))
    eval_splits += [eval_split(TUNE_SPLIT, standardize(inputs), labels) for inputs, labels in tune]
    return ActiveLearningTask(
        name=task.name,
        pool=pool,
        pool_labels=pool_labels,
        evaluator=GlueEvaluator(task, eval_splits, seed=cfg.seed),
        num_outputs=task.num_labels,
        primary_metric=f"{eval_splits[0].name}/{task.primary_metric}",
        metric_mode=task.primary_mode,
        regression=task.is_regression,
        data_files={
            split: examples.fingerprint for split, examples in [(cfg.pool_split, pool_examples), *eval_examples.items()]
        },
    )


def _standardizer(pool: Inputs) -> Callable[[Inputs], Inputs]:
    """Feature-wise (x - mean) / sd with the pool's statistics (its inputs, no labels), for every split of
    frozen features (``TensorInputs``)."""
    assert isinstance(pool, TensorInputs)
    mean, sd = pool.data.mean(0), pool.data.std(0).clamp_min(1e-6)

    def standardize(inputs: Inputs) -> Inputs:
        assert isinstance(inputs, TensorInputs)
        return TensorInputs((inputs.data - mean) / sd)

    return standardize


def _data_dir(cfg: GlueTaskConfig) -> Path:
    if cfg.data_dir is None or not str(cfg.data_dir).strip():
        raise ValueError(
            f"task {cfg.name!r} reads local GLUE files (task.source=local) but no folder is set: set the environment "
            f"variable {GLUE_DIR_ENV}=/path/to/glue or task.data_dir=/path/to/glue (the folder holding "
            f"{get_glue_task(cfg.name).folder}/), or task.source=hub to download"
        )
    path = Path(cfg.data_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"task.data_dir={cfg.data_dir!r} (default: the environment variable {GLUE_DIR_ENV}) is not a folder"
        )
    return path


def _load_split(task: GlueTask, split: str, data_dir: Path | None) -> TextExamples:
    if data_dir is None:
        return load_glue_split_from_hub(task, split)
    try:
        return load_glue_split(task, split, data_dir)
    except GlueFormatError as error:
        supplementary = f"supplementary_{split}"
        if (
            supplementary in SUPPLEMENTARY_SPLITS
            and not glue_file_path(task, split, data_dir).is_file()
            and glue_file_path(task, supplementary, data_dir).is_file()
        ):
            raise GlueFormatError(
                f"{error}; the same examples are there in the 3-column layout: "
                "task.eval_splits=[supplementary_dev_matched,supplementary_dev_mismatched]"
            ) from None
        raise


def _subsample(num: int, cap: int, seed: int, split: str) -> torch.Tensor:
    """Rows [R] of a split: all of them, or ``cap`` drawn at random (sorted), seeded by (seed, split)."""
    if cap == 0 or cap >= num:
        return torch.arange(num)
    # One stream per split, so capping the evaluation sets never changes the pool.
    split_seed = int(np.random.SeedSequence([seed, zlib.crc32(split.encode())]).generate_state(1)[0])
    return torch.randperm(num, generator=torch.Generator().manual_seed(split_seed))[:cap].sort().values


def _carve_tune_rows(rows: torch.Tensor, cfg: GlueTaskConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(tune rows, pool rows): ``cfg.tune_size`` of the pool's rows drawn with (seed, "tune"), both sorted."""
    if cfg.tune_size == 0:
        return rows[:0], rows
    if cfg.tune_size >= rows.shape[0]:
        raise ValueError(
            f"task.tune_size={cfg.tune_size} leaves no pool: the pool split {cfg.pool_split!r} has {rows.shape[0]} rows"
        )
    tune_seed = int(np.random.SeedSequence([cfg.seed, zlib.crc32(TUNE_SPLIT.encode())]).generate_state(1)[0])
    order = torch.randperm(rows.shape[0], generator=torch.Generator().manual_seed(tune_seed))
    return rows[order[: cfg.tune_size]].sort().values, rows[order[cfg.tune_size :]].sort().values


def _batches(inputs: Inputs, batch_size: int) -> list[torch.Tensor]:
    """Evaluation batches: token inputs or hidden states grouped by length (little padding) for the encoder,
    features in order."""
    if isinstance(inputs, SequenceInputs):
        return inputs.length_batches(batch_size)
    return list(torch.arange(len(inputs)).split(batch_size))
