"""The SST-2 sentences the scoring benchmarks score (acquisition_cost.py, scoring_buckets.py) and their common
command line: how many candidates, where GLUE lies, where the results file goes."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import torch

from epinet_al.data.glue_files import TextExamples, load_glue_split
from epinet_al.data.glue_tasks import get_glue_task
from epinet_al.tasks.task import ActiveLearningTask

MAX_LENGTH = 64  # tokens: SST-2's sentences fit, and the timings stay those of short inputs


def candidate_sentences(glue_dir: Path, num: int) -> TextExamples:
    """``num`` SST-2 sentences: the dev split first, then train sentences in file order."""
    task = get_glue_task("sst2")
    dev = load_glue_split(task, "dev", glue_dir)
    texts, labels = list(dev.text_a[:num]), dev.labels[:num]
    if len(texts) < num:
        train = load_glue_split(task, "train", glue_dir)
        extra = num - len(texts)
        texts += train.text_a[:extra]
        labels = torch.cat([labels, train.labels[:extra]])
    return TextExamples(texts, None, labels, f"{dev.source} + train")


def scoring_task() -> ActiveLearningTask:
    """What ``build_module`` reads of SST-2 to build a fully fine-tuned model (two classes): the benchmarks score
    their own tokenized sentences, so no pool is built."""
    return cast(ActiveLearningTask, SimpleNamespace(pool=None, num_outputs=2, regression=False, temperature=1.0))


def candidate_parser(description: str, name: str) -> argparse.ArgumentParser:
    """The arguments every scoring benchmark takes; the results file is benchmarks/results/<name>.json."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--glue-dir", type=Path, default=os.environ.get("GLUE_DIR"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results") / f"{name}.json")
    return parser


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The parsed arguments, GLUE_DIR checked."""
    args = parser.parse_args()
    if args.glue_dir is None:
        parser.error("set GLUE_DIR (the folder holding SST-2/) or pass --glue-dir")
    # Lightning warns that `srun` exists whenever SLURM is installed; this single-process run needs no srun.
    warnings.filterwarnings("ignore", message=".*`srun` command is available.*")
    return args
