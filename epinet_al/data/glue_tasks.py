"""The GLUE task registry: every per-task fact in one place.

One frozen `GlueTask` per task id (`cola`, `sst2`, `mrpc`, `qqp`, `stsb`, `mnli`, `qnli`, `rte`, `wnli`).
The id is the name used everywhere else (config file name, logged value, Hugging Face config name).

Labels: `labels` holds the label strings exactly as they appear in the GLUE TSV files, in the order of
the integer ids used by the Hugging Face `glue` dataset (`labels[i]` is id `i`), e.g. MNLI
`("entailment", "neutral", "contradiction")`. STS-B is a regression task: `labels == ()`,
`num_labels == 1`.

Files: `files` holds one `GlueFile` per split the task can read locally: its path under the task's folder and
its column `FileLayout`. The GLUE splits are `train` and the task's `eval_splits` (`dev`; MNLI `dev_matched`,
`dev_mismatched`); a file may also stand in for a GLUE split (`GlueFile.stands_in_for`: MNLI's supplementary
3-column dev files). Results are reported under `report_split_name(split)`: `dev` -> `val`,
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
class FileLayout:
    """The columns of one kind of TSV file.

    Attributes:
        columns: every column, in file order: the header's names, or names by position in a file without one.
        text_a, text_b, label: the columns read (`text_b` None for single-sentence tasks).
        has_header: the first line holds `columns`; a reader finds the read columns by name there.
        int_labels: the label cell holds the integer class id ("0", "1", ...) instead of the task's label string.
    """

    columns: tuple[str, ...]
    text_a: str
    text_b: str | None
    label: str
    has_header: bool = True
    int_labels: bool = False

    def __post_init__(self) -> None:
        missing = [c for c in (self.text_a, self.text_b, self.label) if c is not None and c not in self.columns]
        if missing:
            raise ValueError(f"layout columns {self.columns} lack {missing}")


@dataclass(frozen=True)
class GlueFile:
    """One file of a task: file split name, path under the task's folder, layout.

    `stands_in_for` names the GLUE split whose examples the file holds in another layout (MNLI's supplementary
    dev files): a run whose GLUE file is missing is pointed at it.
    """

    split: str
    path: str
    layout: FileLayout
    stands_in_for: str | None = None


@dataclass(frozen=True)
class GlueTask:
    """Static description of one GLUE task.

    Attributes:
        name: task id, lowercase (`sst2`); also the Hugging Face `glue` config name.
        folder: folder name in the original GLUE layout (`SST-2`).
        text_fields: the one or two text columns, named as in the Hugging Face dataset
            (`("sentence",)`, `("premise", "hypothesis")`).
        labels: TSV label strings, index = integer label id; `()` for regression.
        score_range: a regression task's valid scores (low, high); a score outside is a malformed file.
        eval_splits: file split names of the labelled evaluation sets.
        metrics: metric names computed on every split (bare names, see `METRIC_MODES`).
        primary_metric: the metric that selects checkpoints and summarizes a run.
        files: the local files, one per split: `train`, every one of `eval_splits`, and any stand-ins.
        hub_dataset: Hugging Face dataset id; `hub_config` is the config within it.
    """

    name: str
    folder: str
    text_fields: tuple[str, ...]
    labels: tuple[str, ...]
    eval_splits: tuple[str, ...]
    metrics: tuple[str, ...]
    primary_metric: str
    files: tuple[GlueFile, ...]
    score_range: tuple[float, float] = (0.0, 0.0)
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
        if self.is_regression and self.score_range[0] >= self.score_range[1]:
            raise ValueError(f"{self.name}: a regression task needs a score_range (low, high), got {self.score_range}")
        splits = [file.split for file in self.files]
        missing = [split for split in self.splits if split not in splits]
        if missing or len(set(splits)) != len(splits):
            raise ValueError(f"{self.name}: files must hold each of {self.splits} once, got {splits}")
        for file in self.files:
            if (file.layout.text_b is not None) != self.is_pair:
                raise ValueError(f"{self.name}: the layout of {file.path} reads {self.text_fields} wrongly")

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

    @property
    def local_splits(self) -> tuple[str, ...]:
        """Every split a local folder can hold: the GLUE splits and their stand-ins."""
        return tuple(file.split for file in self.files)

    def file(self, split: str) -> GlueFile:
        """The local file of `split` (one of `local_splits`)."""
        for file in self.files:
            if file.split == split:
                return file
        raise ValueError(f"unknown split {split!r} for GLUE task {self.name}; valid: {', '.join(self.local_splits)}")

    def stand_in(self, split: str) -> GlueFile | None:
        """The file that holds the examples of GLUE split `split` in another layout, if any."""
        return next((file for file in self.files if file.stands_in_for == split), None)


_CLS_BINARY_DIGITS = ("0", "1")
_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")


def _train_dev(layout: FileLayout) -> tuple[GlueFile, ...]:
    """`train.tsv` and `dev.tsv`, both in `layout`: the files of most tasks."""
    return GlueFile("train", "train.tsv", layout), GlueFile("dev", "dev.tsv", layout)


_PAIR4 = FileLayout(("index", "sentence1", "sentence2", "label"), "sentence1", "sentence2", "label")
_MNLI_TRAIN = (
    "index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
    "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label",
)  # fmt: skip
# MNLI dev files add label2..label5 to the train columns.
_MNLI_DEV = (*_MNLI_TRAIN[:11], "label2", "label3", "label4", "label5", "gold_label")
# The full MNLI dev sets without a header, `premise<TAB>hypothesis<TAB>label`, with the Hugging Face integer label.
_SUPPLEMENTARY = FileLayout(("premise", "hypothesis", "label"), "premise", "hypothesis", "label", False, True)
_STSB = (
    "index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2", "score",
)  # fmt: skip

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
            # No header: source, label, the original acceptability mark, sentence.
            files=_train_dev(
                FileLayout(("source", "label", "mark", "sentence"), "sentence", None, "label", has_header=False)
            ),
        ),
        GlueTask(
            name="sst2",
            folder="SST-2",
            text_fields=("sentence",),
            labels=_CLS_BINARY_DIGITS,
            eval_splits=("dev",),
            metrics=("acc", "nll"),
            primary_metric="acc",
            files=_train_dev(FileLayout(("sentence", "label"), "sentence", None, "label")),
        ),
        GlueTask(
            name="mrpc",
            folder="MRPC",
            text_fields=("sentence1", "sentence2"),
            labels=_CLS_BINARY_DIGITS,
            eval_splits=("dev",),
            metrics=("f1", "acc", "nll"),
            primary_metric="f1",
            files=_train_dev(
                FileLayout(("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"), "#1 String", "#2 String", "Quality")
            ),
        ),
        GlueTask(
            name="qqp",
            folder="QQP",
            text_fields=("question1", "question2"),
            labels=_CLS_BINARY_DIGITS,
            eval_splits=("dev",),
            metrics=("f1", "acc", "nll"),
            primary_metric="f1",
            files=_train_dev(
                FileLayout(
                    ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
                    "question1",
                    "question2",
                    "is_duplicate",
                )
            ),
        ),
        GlueTask(
            name="stsb",
            folder="STS-B",
            text_fields=("sentence1", "sentence2"),
            labels=(),
            eval_splits=("dev",),
            metrics=("pearson", "spearman"),
            primary_metric="pearson",
            score_range=(0.0, 5.0),
            files=_train_dev(FileLayout(_STSB, "sentence1", "sentence2", "score")),
        ),
        GlueTask(
            name="mnli",
            folder="MNLI",
            text_fields=("premise", "hypothesis"),
            labels=_NLI3,
            eval_splits=("dev_matched", "dev_mismatched"),
            metrics=("acc", "nll"),
            primary_metric="acc",
            files=(
                GlueFile("train", "train.tsv", FileLayout(_MNLI_TRAIN, "sentence1", "sentence2", "gold_label")),
                *(
                    GlueFile(split, f"{split}.tsv", FileLayout(_MNLI_DEV, "sentence1", "sentence2", "gold_label"))
                    for split in ("dev_matched", "dev_mismatched")
                ),
                *(
                    GlueFile(
                        f"supplementary_{split}",
                        f"supplementary/{split}.premise_hypothesis_label.tsv",
                        _SUPPLEMENTARY,
                        stands_in_for=split,
                    )
                    for split in ("dev_matched", "dev_mismatched")
                ),
            ),
        ),
        GlueTask(
            name="qnli",
            folder="QNLI",
            text_fields=("question", "sentence"),
            labels=_NLI2,
            eval_splits=("dev",),
            metrics=("acc", "nll"),
            primary_metric="acc",
            files=_train_dev(FileLayout(("index", "question", "sentence", "label"), "question", "sentence", "label")),
        ),
        GlueTask(
            name="rte",
            folder="RTE",
            text_fields=("sentence1", "sentence2"),
            labels=_NLI2,
            eval_splits=("dev",),
            metrics=("acc", "nll"),
            primary_metric="acc",
            files=_train_dev(_PAIR4),
        ),
        GlueTask(
            name="wnli",
            folder="WNLI",
            text_fields=("sentence1", "sentence2"),
            labels=_CLS_BINARY_DIGITS,
            eval_splits=("dev",),
            metrics=("acc", "nll"),
            primary_metric="acc",
            files=_train_dev(_PAIR4),
        ),
    )
}


def get_glue_task(name: str) -> GlueTask:
    """The registered task called `name` (lowercase id, e.g. `"sst2"`)."""
    try:
        return GLUE_TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown GLUE task {name!r}; valid: {', '.join(GLUE_TASKS)}") from None


def report_split_name(split: str) -> str:
    """Name under which results on file split `split` are reported (`dev` -> `val`)."""
    try:
        return _REPORT_SPLIT_NAMES[split]
    except KeyError:
        raise ValueError(f"unknown GLUE split {split!r}; valid: {', '.join(_REPORT_SPLIT_NAMES)}") from None
