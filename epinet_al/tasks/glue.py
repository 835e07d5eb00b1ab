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

Built in three steps, each in its module: the rows (``tasks/glue_splits.py``: every file read and checked, the
capped sets and the tune split drawn), the model inputs of those rows (``tasks/glue_inputs.py``: tokens, hidden
states or features, cached), and the task assembled from them here, with its evaluator (``tasks/glue_eval.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from epinet_al.data.glue_tasks import get_glue_task
from epinet_al.networks.specs import EncoderModelConfig
from epinet_al.tasks.glue_eval import EvalSplit, GlueEvaluator, eval_batches
from epinet_al.tasks.glue_inputs import EncoderInputs
from epinet_al.tasks.glue_splits import POOL, read_glue_splits
from epinet_al.tasks.specs import GlueTaskConfig
from epinet_al.tasks.task import ActiveLearningTask


def build_glue_task(
    cfg: GlueTaskConfig,
    model_cfg: EncoderModelConfig,
    eval_cfg: Any,
    device: torch.device | None = None,
    check_pool: Callable[[int], None] = lambda pool_size: None,
) -> ActiveLearningTask:
    """The GLUE task ``cfg.name`` as an active-learning task for the encoder of ``model_cfg``.

    Every file is read and the rows drawn first; ``check_pool(pool size)`` runs then, before anything is encoded.
    The configs were checked when they were composed (``epinet_al.config.to_experiment_config``).
    """
    task = get_glue_task(cfg.name)
    pool_split, *eval_files = read_glue_splits(task, cfg)
    check_pool(len(pool_split.sets[POOL]))
    encoder = EncoderInputs(model_cfg, min(cfg.max_length, model_cfg.max_length), device or torch.device("cpu"))
    pool_sets = encoder.encode(pool_split)
    pool, pool_labels = pool_sets.pop(POOL)
    standardize = encoder.standardizer(pool)
    # Each evaluation split, then the tune split: the primary metric is the first one's.
    eval_splits = [
        EvalSplit(name, standardize(inputs), labels, eval_batches(inputs, model_cfg.batch_size, eval_cfg.batch_size))
        for sets in [*(encoder.encode(split) for split in eval_files), pool_sets]
        for name, (inputs, labels) in sets.items()
    ]
    return ActiveLearningTask(
        name=task.name,
        pool=standardize(pool),
        pool_labels=pool_labels,
        evaluator=GlueEvaluator(task, eval_splits, seed=cfg.seed),
        num_outputs=task.num_labels,
        primary_metric=f"{eval_splits[0].name}/{task.primary_metric}",
        metric_mode=task.primary_mode,
        regression=task.is_regression,
        data_files={
            split: file.examples.fingerprint
            for split, file in zip((cfg.pool_split, *cfg.eval_splits), (pool_split, *eval_files), strict=True)
        },
    )
