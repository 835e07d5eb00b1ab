"""Read GLUE splits as plain texts and labels: from local TSV files, or from the Hugging Face hub.

Local files follow the original GLUE layout written by `download_glue_data.py`:

    <data_dir>/<FOLDER>/train.tsv, dev.tsv          (FOLDER = task.folder, e.g. SST-2)
    <data_dir>/MNLI/dev_matched.tsv, dev_mismatched.tsv

Each task's files, their paths under its folder and their columns are in its `GlueTask.files`
(`epinet_al.data.glue_tasks`): split names accepted by `load_glue_split` are `task.local_splits`. MNLI also
has two non-GLUE "supplementary" files that stand in for its dev files (the full dev sets as 3 columns without
a header, `premise<TAB>hypothesis<TAB>label`, with the integer label of the Hugging Face encoding); results on
them are reported as `val_matched` / `val_mismatched` (see `report_split_name`).

Parsing rules, strict on purpose: UTF-8 (a leading byte-order mark is tolerated), one row per line
(`\\n`; a trailing `\\r` is dropped), cells split on TAB with no quote handling (the equivalent of
`csv.QUOTE_NONE`: GLUE sentences contain unbalanced `"`), every row has the layout's column count.
Text cells are kept verbatim; label cells are stripped of surrounding spaces. Anything else raises
`GlueFormatError` with `path:line:` and what is wrong.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from epinet_al.data.glue_tasks import GlueTask

GLUE_DIR_ENV = "GLUE_DIR"

# File split name -> split name in the Hugging Face `glue` dataset.
_HUB_SPLITS: dict[str, str] = {
    "train": "train",
    "dev": "validation",
    "dev_matched": "validation_matched",
    "dev_mismatched": "validation_mismatched",
}


class GlueFormatError(ValueError):
    """A GLUE file is missing or malformed; the message is one line naming the file and line."""


@dataclass
class TextExamples:
    """Texts and labels of one split, aligned by index (N rows).

    Attributes:
        text_a: N first texts (the sentence, or the first of a pair).
        text_b: N second texts for pair tasks, else None.
        labels: [N] int64 class ids, or float32 scores for regression (STS-B).
        source: where the rows came from (file path or hub dataset and split), for logs and errors.
        fingerprint: the identity of the data read, recorded with the run's results so that runs on
            different data are never compared as one problem: `sha256:<hex>` of a file's bytes, or
            `hf:<dataset>/<config>[<split>]@<fingerprint>` of a hub dataset; "" when unknown.
    """

    text_a: list[str]
    text_b: list[str] | None
    labels: torch.Tensor
    source: str
    fingerprint: str = ""

    def __post_init__(self) -> None:
        n = len(self.text_a)
        if self.text_b is not None and len(self.text_b) != n:
            raise ValueError(f"{self.source}: {n} text_a but {len(self.text_b)} text_b")
        if self.labels.shape != (n,):
            raise ValueError(f"{self.source}: labels shape {tuple(self.labels.shape)}, expected ({n},)")

    def __len__(self) -> int:
        return len(self.text_a)


def glue_file_path(task: GlueTask, split: str, data_dir: Path) -> Path:
    """Where `split` of `task` lives under `data_dir` (not checked for existence)."""
    return Path(data_dir) / task.folder / task.file(split).path


def load_glue_split(task: GlueTask, split: str, data_dir: Path) -> TextExamples:
    """Read `split` of `task` from a folder in the GLUE layout (see the module docstring for splits)."""
    path = glue_file_path(task, split, data_dir)
    if not path.is_file():
        raise GlueFormatError(_missing_file_message(task, split, path))
    return read_glue_file(path, task, split)


def read_glue_file(path: Path, task: GlueTask, split: str = "train") -> TextExamples:
    """Parse one GLUE TSV file in the column layout of `split` of `task`."""
    path = Path(path)
    layout = task.file(split).layout
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        lineno = data.count(b"\n", 0, e.start) + 1
        bad = data[e.start : e.end].hex()
        raise GlueFormatError(f"{path}:{lineno}: not valid UTF-8 (byte(s) 0x{bad}: {e.reason})") from None
    if not text.strip():
        raise GlueFormatError(f"{path}:1: empty file")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last row (CoLA dev has none)

    first_row = 0
    n_columns = len(layout.columns)
    header = list(layout.columns)  # a file without a header is read by the layout's column positions
    if layout.has_header:
        header = lines[0].rstrip("\r").split("\t")
        if len(header) != n_columns:
            raise GlueFormatError(
                f"{path}:1: header has {len(header)} columns, expected {n_columns} for "
                f"{task.name} {split}: {_short(header, 300)}"
            )
        wanted = [c for c in (layout.text_a, layout.text_b, layout.label) if c is not None]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise GlueFormatError(f"{path}:1: missing header columns {missing}; header is {_short(header, 300)}")
        first_row = 1
    ia, il = header.index(layout.text_a), header.index(layout.label)
    ib = None if layout.text_b is None else header.index(layout.text_b)
    if len(lines) <= first_row:
        raise GlueFormatError(f"{path}:{first_row + 1}: no data rows")

    parse_label: Callable[[str], float]
    if task.is_regression:
        parse_label = _ScoreParser(task)
    else:
        names = tuple(str(i) for i in range(task.num_labels)) if layout.int_labels else task.labels
        parse_label = _ClassLabelParser(names)

    text_a: list[str] = []
    text_b: list[str] | None = None if ib is None else []
    labels: list[float] = []  # class ids are ints
    for lineno, line in enumerate(lines[first_row:], start=first_row + 1):
        cells = line.rstrip("\r").split("\t")
        if len(cells) != n_columns:
            raise GlueFormatError(f"{path}:{lineno}: expected {n_columns} tab-separated columns, found {len(cells)}")
        try:
            labels.append(parse_label(cells[il].strip()))
        except ValueError as e:
            raise GlueFormatError(f"{path}:{lineno}: {e}") from None
        text_a.append(cells[ia])
        if text_b is not None and ib is not None:
            text_b.append(cells[ib])

    dtype = torch.float32 if task.is_regression else torch.long
    return TextExamples(
        text_a,
        text_b,
        torch.tensor(labels, dtype=dtype),
        f"{path} ({task.name} {split})",
        fingerprint=f"sha256:{hashlib.sha256(data).hexdigest()}",
    )


def hub_split_name(split: str) -> str:
    """Hugging Face `glue` split name of a file split (`dev` -> `validation`)."""
    try:
        return _HUB_SPLITS[split]
    except KeyError:
        raise ValueError(f"GLUE split {split!r} has no hub equivalent; valid: {', '.join(_HUB_SPLITS)}") from None


def load_glue_split_from_hub(task: GlueTask, split: str) -> TextExamples:
    """Download `split` (`train`, `dev`, MNLI `dev_matched`/`dev_mismatched`) from the Hugging Face hub.

    Hub labels are already integer ids in the order of `task.labels` (STS-B: float scores).
    Needs network access or a filled `datasets` cache.
    """
    import datasets  # imported here: slow to import, and only this path needs it

    if split not in task.splits:
        raise ValueError(f"unknown split {split!r} for GLUE task {task.name}; valid: {', '.join(task.splits)}")
    hub_split = hub_split_name(split)
    ds = datasets.load_dataset(task.hub_dataset, task.hub_config, split=hub_split)
    text_a = list(ds[task.text_fields[0]])
    text_b = list(ds[task.text_fields[1]]) if task.is_pair else None
    dtype = torch.float32 if task.is_regression else torch.long
    labels = torch.tensor(list(ds["label"]), dtype=dtype)
    source = f"hf:{task.hub_dataset}/{task.hub_config}[{hub_split}]"
    # The datasets library's hash of the prepared split (its cache files' identity); no public name for it.
    return TextExamples(text_a, text_b, labels, source, fingerprint=f"{source}@{getattr(ds, '_fingerprint', '')}")


# --- helpers -------------------------------------------------------------------------------------


class _ClassLabelParser:
    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.ids = {name: i for i, name in enumerate(names)}

    def __call__(self, cell: str) -> int:
        try:
            return self.ids[cell]
        except KeyError:
            raise ValueError(f"label {_short(cell)} is not one of {list(self.names)}") from None


class _ScoreParser:
    def __init__(self, task: GlueTask) -> None:
        self.task = task

    def __call__(self, cell: str) -> float:
        low, high = self.task.score_range
        try:
            score = float(cell)
        except ValueError:
            score = math.nan
        if not (low <= score <= high):  # also rejects nan
            raise ValueError(f"{self.task.folder} score {_short(cell)} is not a float in [{low:g}, {high:g}]")
        return score


def _missing_file_message(task: GlueTask, split: str, path: Path) -> str:
    folder = path.parent
    if path.exists():  # listed in the folder, yet not a file
        kind = "a folder" if path.is_dir() else "not a regular file"
        return f"{path}: is {kind}, not the file of GLUE task {task.name} split {split!r}; replace it with the TSV file"
    what = f"{path}: missing file for GLUE task {task.name} split {split!r}"
    if folder.is_dir():
        present = sorted(p.name for p in folder.iterdir())
        return f"{what}; files in {folder}: {', '.join(present) if present else '(none)'}"
    # Walk up to the first existing ancestor, to show what is there instead.
    parent = folder.parent
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    present = sorted(p.name for p in parent.iterdir()) if parent.is_dir() else []
    return f"{what}; folder {folder} does not exist; entries in {parent}: {', '.join(present) if present else '(none)'}"


def _short(value: object, limit: int = 60) -> str:
    """repr() of a value cut to `limit` characters, so an error message stays one line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
