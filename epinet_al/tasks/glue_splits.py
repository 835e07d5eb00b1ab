"""The rows of a GLUE run: every file read and checked, the pool and evaluation sets drawn, the tune split carved.

Nothing is encoded here, so a missing or malformed file, or a setting that leaves no pool, is reported in
seconds (encoding a split takes minutes). Every draw is seeded by the run's seed and the draw's name
(``split_seed``): one stream per split, so capping the evaluation sets never changes the pool.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from epinet_al.data.glue_files import (
    GLUE_DIR_ENV,
    GlueFormatError,
    TextExamples,
    glue_file_path,
    load_glue_split,
    load_glue_split_from_hub,
)
from epinet_al.data.glue_tasks import GlueTask, report_split_name
from epinet_al.tasks.specs import GlueTaskConfig

# The set of the pool split that the loop acquires from.
POOL = "pool"
# The set carved out of the pool for choosing hyperparameters (GLUE's dev split is reported as val).
TUNE_SPLIT = "tune"


@dataclass
class GlueSplit:
    """One file read for a run and the sets of its rows.

    Attributes:
        cache_name: ``<task>-<file split>``, the stem of the split's cache files.
        examples: every row of the file.
        sets: name -> rows [R] (sorted): ``pool`` and ``tune`` of the pool split; an evaluation split's one set
            under its reported name (``val``, ``val_matched``).
    """

    cache_name: str
    examples: TextExamples
    sets: dict[str, torch.Tensor]


def split_seed(seed: int, name: str) -> int:
    """The seed of the draw called ``name`` (a split, or ``tune``) in the run seeded by ``seed``."""
    return int(np.random.SeedSequence([seed, zlib.crc32(name.encode())]).generate_state(1)[0])


def read_glue_splits(task: GlueTask, cfg: GlueTaskConfig) -> list[GlueSplit]:
    """The pool split (sets ``pool``, then ``tune`` when ``cfg.tune_size`` > 0), then each evaluation split.

    Every file is read and checked before any row is drawn. The configs were checked when they were composed.
    """
    data_dir = _data_dir(cfg, task) if cfg.source == "local" else None
    pool_examples, *eval_examples = (_load_split(task, split, data_dir) for split in (cfg.pool_split, *cfg.eval_splits))
    rows = _subsample(len(pool_examples), cfg.max_pool_size, cfg.seed, cfg.pool_split)
    pool_sets = {POOL: rows}
    if cfg.tune_size:
        if cfg.tune_size >= rows.shape[0]:
            raise ValueError(
                f"task.tune_size={cfg.tune_size} leaves no pool: "
                f"the pool split {cfg.pool_split!r} has {rows.shape[0]} rows"
            )
        order = torch.randperm(rows.shape[0], generator=torch.Generator().manual_seed(split_seed(cfg.seed, TUNE_SPLIT)))
        pool_sets = {
            POOL: rows[order[cfg.tune_size :]].sort().values,
            TUNE_SPLIT: rows[order[: cfg.tune_size]].sort().values,
        }
    return [
        GlueSplit(f"{task.name}-{cfg.pool_split}", pool_examples, pool_sets),
        *(
            GlueSplit(
                f"{task.name}-{split}",
                examples,
                {report_split_name(split): _subsample(len(examples), cfg.max_eval_size, cfg.seed, split)},
            )
            for split, examples in zip(cfg.eval_splits, eval_examples, strict=True)
        ),
    ]


def _data_dir(cfg: GlueTaskConfig, task: GlueTask) -> Path:
    if cfg.data_dir is None or not str(cfg.data_dir).strip():
        raise ValueError(
            f"task {cfg.name!r} reads local GLUE files (task.source=local) but no folder is set: set the environment "
            f"variable {GLUE_DIR_ENV}=/path/to/glue or task.data_dir=/path/to/glue (the folder holding "
            f"{task.folder}/), or task.source=hub to download"
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
        stand_in = task.stand_in(split)
        if (
            stand_in is not None
            and not glue_file_path(task, split, data_dir).is_file()
            and glue_file_path(task, stand_in.split, data_dir).is_file()
        ):
            stand_ins = ",".join(file.split for file in task.files if file.stands_in_for is not None)
            raise GlueFormatError(
                f"{error}; the same examples are there in the {len(stand_in.layout.columns)}-column layout: "
                f"task.eval_splits=[{stand_ins}]"
            ) from None
        raise


def _subsample(num: int, cap: int, seed: int, split: str) -> torch.Tensor:
    """Rows [R] of a split: all of them, or ``cap`` drawn at random (sorted) with ``split_seed(seed, split)``."""
    if cap == 0 or cap >= num:
        return torch.arange(num)
    return torch.randperm(num, generator=torch.Generator().manual_seed(split_seed(seed, split)))[:cap].sort().values
