"""The GLUE task registry: every per-task fact in one place.

One frozen `GlueTask` per task id (`cola`, `sst2`, `mrpc`, `qqp`, `stsb`, `mnli`, `qnli`, `rte`, `wnli`).
The id is the name used everywhere else (config file name, logged value, Hugging Face config name).

Labels: `labels` holds the label strings exactly as they appear in the GLUE TSV files, in the order of
the integer ids used by the Hugging Face `glue` dataset (`labels[i]` is id `i`), e.g. MNLI
`("entailment", "neutral", "contradiction")`. STS-B is a regression task: `labels == ()`,
`num_labels == 1`.

Splits: the file split names are `train` and the task's `eval_splits` (`dev`; MNLI `dev_matched`,
`dev_mismatched`). Results are reported under `report_split_name(split)`: `dev` -> `val`,
`dev_matched` -> `val_matched`, `dev_mismatched` -> `val_mismatched`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Direction in which each metric improves; used for the primary metric's mode (checkpointing, sweeps).
METRIC_MODES: dict[str, str] = {
    "acc": "max",
    "f1": "max",
    "matthews": "max",
    "pearson": "max",
    "spearman": "max",
    "nll": "min",
}

# File split name -> name under which its results are reported (metric keys `val/acc`, ...).
# The MNLI supplementary files hold the same examples as the GLUE dev files, so they report alike.
_REPORT_SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "dev": "val",
    "dev_matched": "val_matched",
    "dev_mismatched": "val_mismatched",
    "supplementary_dev_matched": "val_matched",
    "supplementary_dev_mismatched": "val_mismatched",
}


@dataclass(frozen=True)
class GlueTask:
    """Static description of one GLUE task.

    Attributes:
        name: task id, lowercase (`sst2`); also the Hugging Face `glue` config name.
        folder: folder name in the original GLUE layout (`SST-2`).
        text_fields: the one or two text columns, named as in the Hugging Face dataset
            (`("sentence",)`, `("premise", "hypothesis")`).
        labels: TSV label strings, index = integer label id; `()` for regression.
        eval_splits: file split names of the labelled evaluation sets.
        metrics: metric names computed on every split (bare names, see `METRIC_MODES`).
        primary_metric: the metric that selects checkpoints and summarizes a run.
        hub_dataset: Hugging Face dataset id; `hub_config` is the config within it.
    """

    name: str
    folder: str
    text_fields: tuple[str, ...]
    labels: tuple[str, ...]
    eval_splits: tuple[str, ...]
    metrics: tuple[str, ...]
    primary_metric: str
    # The hub id with its owner: a bare "glue" makes `datasets` load a local ./glue folder instead.
    hub_dataset: str = "nyu-mll/glue"

    def __post_init__(self) -> None:
        # Registry entries are code, so inconsistencies are programming errors; still raise, not assert.
        if len(self.text_fields) not in (1, 2):
            raise ValueError(f"{self.name}: text_fields must have 1 or 2 entries, got {self.text_fields}")
        unknown = [m for m in self.metrics if m not in METRIC_MODES]
        if unknown:
            raise ValueError(f"{self.name}: unknown metrics {unknown}; valid: {sorted(METRIC_MODES)}")
        if self.primary_metric not in self.metrics:
            raise ValueError(f"{self.name}: primary_metric {self.primary_metric!r} not in {self.metrics}")

    @property
    def hub_config(self) -> str:
        """Config name of the task in the Hugging Face `glue` dataset."""
        return self.name

    @property
    def is_regression(self) -> bool:
        return not self.labels

    @property
    def num_labels(self) -> int:
        """Number of model outputs: classes, or 1 for regression (STS-B)."""
        return 1 if self.is_regression else len(self.labels)

    @property
    def is_pair(self) -> bool:
        return len(self.text_fields) == 2

    @property
    def primary_mode(self) -> str:
        """`"max"` or `"min"`: the direction in which `primary_metric` improves."""
        return METRIC_MODES[self.primary_metric]

    @property
    def splits(self) -> tuple[str, ...]:
        """All labelled file splits in the GLUE layout: `train` then `eval_splits`."""
        return ("train", *self.eval_splits)


_CLS_BINARY_DIGITS = ("0", "1")
_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")

GLUE_TASKS: dict[str, GlueTask] = {
    t.name: t
    for t in (
        GlueTask(
            name="cola",
            folder="CoLA",
            text_fields=("sentence",),
            labels=_CLS_BINARY_DIGITS,
            eval_splits=("dev",),
            metrics=("matthews", "acc", "nll"),
            primary_metric="matthews",
        ),
        GlueTask(
            name="sst2",
            folder="SST-2",
            text_fields=("sentence",),
            labels=_CLS_BINARY_DIGITS,
            eval_splits=("dev",),
            metrics=("acc", "nll"),
            primary_metric="acc",
        ),
        GlueTask(
            name="mrpc",
            folder="MRPC",
            text_fields=("sentence1", "sentence2"),
            labels=_CLS_BINARY_DIGITS,
            eval_splits=("dev",),
            metrics=("f1", "acc", "nll"),
            primary_metric="f1",
        ),
        GlueTask(
            name="qqp",
            folder="QQP",
            text_fields=("question1", "question2"),
            labels=_CLS_BINARY_DIGITS,
            eval_splits=("dev",),
            metrics=("f1", "acc", "nll"),
            primary_metric="f1",
        ),
        GlueTask(
            name="stsb",
            folder="STS-B",
            text_fields=("sentence1", "sentence2"),
            labels=(),
            eval_splits=("dev",),
            metrics=("pearson", "spearman"),
            primary_metric="pearson",
        ),
        GlueTask(
            name="mnli",
            folder="MNLI",
            text_fields=("premise", "hypothesis"),
            labels=_NLI3,
            eval_splits=("dev_matched", "dev_mismatched"),
            metrics=("acc", "nll"),
            primary_metric="acc",
        ),
        GlueTask(
            name="qnli",
            folder="QNLI",
            text_fields=("question", "sentence"),
            labels=_NLI2,
            eval_splits=("dev",),
            metrics=("acc", "nll"),
            primary_metric="acc",
        ),
        GlueTask(
            name="rte",
            folder="RTE",
            text_fields=("sentence1", "sentence2"),
            labels=_NLI2,
            eval_splits=("dev",),
            metrics=("acc", "nll"),
            primary_metric="acc",
        ),
        GlueTask(
            name="wnli",
            folder="WNLI",
            text_fields=("sentence1", "sentence2"),
            labels=_CLS_BINARY_DIGITS,
            eval_splits=("dev",),
            metrics=("acc", "nll"),
            primary_metric="acc",
        ),
    )
}


def get_glue_task(name: str) -> GlueTask:
    """The registered task called `name` (lowercase id, e.g. `"sst2"`)."""
    try:
        return GLUE_TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown GLUE task {name!r}; valid: {', '.join(GLUE_TASKS)}") from None


# MNLI files that are not in the GLUE layout (see epinet_al.data.glue_files): split name -> file under MNLI/.
SUPPLEMENTARY_SPLITS: dict[str, str] = {
    "supplementary_dev_matched": "supplementary/dev_matched.premise_hypothesis_label.tsv",
    "supplementary_dev_mismatched": "supplementary/dev_mismatched.premise_hypothesis_label.tsv",
}


def local_splits(task: GlueTask) -> tuple[str, ...]:
    """Split names `load_glue_split` accepts for `task` (the GLUE splits, plus MNLI's supplementary)."""
    extra = tuple(SUPPLEMENTARY_SPLITS) if task.name == "mnli" else ()
    return (*task.splits, *extra)


def report_split_name(split: str) -> str:
    """Name under which results on file split `split` are reported (`dev` -> `val`)."""
    try:
        return _REPORT_SPLIT_NAMES[split]
    except KeyError:
        raise ValueError(f"unknown GLUE split {split!r}; valid: {', '.join(_REPORT_SPLIT_NAMES)}") from None
