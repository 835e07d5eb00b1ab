"""Tiny GLUE folders in the exact layout of each task, with optional malformations, for offline tests.

`write_glue_fixture(root, "RTE")` writes `root/RTE/train.tsv` and `root/RTE/dev.tsv` and returns what
it wrote (texts and label cells per split), so a test can compare a reader's output against it.
The files follow the task's `GlueTask.files` (paths and columns), so a new GLUE-format task gets its fixture
without any change here; the tables themselves are checked against the real GLUE files
(`tests/data/test_glue_files.py`).

Faithful quirks of the original files (`_QUIRKS`): CoLA's dev file has no final newline; the MRPC header starts
with a UTF-8 byte-order mark; SST-2 sentences end with a space. Texts contain unbalanced double quotes and
non-ASCII characters (files must be read with quoting off).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from epinet_al.data.glue_tasks import GLUE_TASKS, FileLayout, GlueTask

MALFORMED = (
    "missing_column",  # one data row lacks its last cell
    "extra_column",  # one data row has an extra cell
    "bad_label",  # one data row has a label outside the task's labels (STS-B: score 5.5)
    "bad_encoding",  # one data row contains bytes that are not UTF-8
    "empty_file",  # the file has zero bytes
    "header_only",  # the header line and no data rows
    "missing_header_column",  # the label column is misnamed in the header
    "missing_file",  # the file is not written at all
)

BOM = "\ufeff"


@dataclass(frozen=True)
class _Quirks:
    bom: bool = False  # the first line starts with a UTF-8 byte-order mark
    trailing_space: bool = False  # the first text ends with a space before its tab
    no_final_newline: tuple[str, ...] = ()  # splits whose last row has no newline


_QUIRKS = {
    "CoLA": _Quirks(no_final_newline=("dev",)),
    "MRPC": _Quirks(bom=True),
    "SST-2": _Quirks(trailing_space=True),
}


@dataclass
class GlueFixture:
    """What `write_glue_fixture` wrote.

    Attributes:
        folder: `root/<task_folder>`.
        files: split -> path of its file (for `missing_file`, the path that was not written).
        rows: split -> one (text_a, text_b or None, label cell) per data row, in file order.
        bad_split / bad_line: the malformed file's split and the 1-based line of the defect.
    """

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, list[tuple[str, str | None, str]]] = field(default_factory=dict)
    bad_split: str | None = None
    bad_line: int | None = None


def glue_task_of(task_folder: str) -> GlueTask:
    """The registered task whose GLUE folder is `task_folder`."""
    for task in GLUE_TASKS.values():
        if task.folder == task_folder:
            return task
    raise ValueError(f"unknown GLUE folder {task_folder!r}; valid: {', '.join(t.folder for t in GLUE_TASKS.values())}")


def _label_cell(task: GlueTask, layout: FileLayout, i: int) -> str:
    if layout.int_labels:
        return str(i % task.num_labels)
    if task.is_regression:
        low, high = task.score_range
        return f"{low + (high - low) * ((i * 5) % 21) / 20:.3f}"  # STS-B: 0.000, 1.250, ..., 5.000, 1.000, ...
    return task.labels[i % len(task.labels)]


def _default_bad_value(task: GlueTask, layout: FileLayout) -> str:
    if layout.int_labels:
        return str(task.num_labels)
    return f"{task.score_range[1] + 0.5:g}" if task.is_regression else "maybe"


def _cells(layout: FileLayout, i: int, a: str, b: str, y: str) -> list[str]:
    """One row's cells: the texts and label in their columns, the row number in every other column."""
    values = {layout.text_a: a, layout.label: y, **({layout.text_b: b} if layout.text_b is not None else {})}
    return [values.get(column, str(i)) for column in layout.columns]


def write_glue_fixture(
    root: Path,
    task_folder: str,
    n_train: int = 6,
    n_dev: int = 4,
    *,
    supplementary: bool = False,
    malformed: str | None = None,
    malformed_split: str | None = None,
    malformed_row: int = 1,
    bad_value: str | None = None,
    crlf: bool = False,
) -> GlueFixture:
    """Write `root/<task_folder>/` in the GLUE layout of that task.

    Args:
        root: the GLUE data dir (created if needed).
        task_folder: GLUE folder name of a registered task (`GlueTask.folder`): CoLA, SST-2, MNLI, ...
        n_train, n_dev: data rows in train and in each dev file.
        supplementary: also write the files that stand in for GLUE splits (`GlueFile.stands_in_for`: MNLI's
            3-column supplementary dev files), n_dev rows each.
        malformed: one of `MALFORMED`, applied to the file of `malformed_split` (default: the first dev
            split) at data row `malformed_row` (0-based) where it concerns a row.
        bad_value: the label cell written by `bad_label` (default "maybe"; STS-B "5.5"; supplementary "3").
        crlf: end lines with CRLF instead of LF.
    """
    if malformed is not None and malformed not in MALFORMED:
        raise ValueError(f"unknown malformation {malformed!r}; valid: {', '.join(MALFORMED)}")
    task, quirks = glue_task_of(task_folder), _QUIRKS.get(task_folder, _Quirks())
    dev_splits = list(task.eval_splits)
    if supplementary:
        stand_ins = [file.split for file in task.files if file.stands_in_for is not None]
        if not stand_ins:
            raise ValueError(f"{task_folder} has no files that stand in for GLUE splits")
        dev_splits += stand_ins
    splits = ["train", *dev_splits]
    malformed_split = malformed_split or dev_splits[0]
    if malformed is not None and malformed_split not in splits:
        raise ValueError(f"malformed_split {malformed_split!r} not written; valid: {', '.join(splits)}")

    folder = Path(root) / task_folder
    fixture = GlueFixture(folder=folder)
    newline = b"\r\n" if crlf else b"\n"
    for split in splits:
        layout = task.file(split).layout
        path = folder / task.file(split).path
        fixture.files[split] = path
        n = n_train if split == "train" else n_dev
        defect = malformed if split == malformed_split else None

        rows = []
        for i in range(n):
            # Unbalanced quotes and non-ASCII text: a reader that honours quoting or assumes ASCII breaks.
            a = f'"{split} sentence {i}, with an unbalanced quote, café ☕'
            b = f"{split} second text {i} — naïve 'quote\"" if layout.text_b is not None else None
            if quirks.trailing_space:
                a += " "
            rows.append((a, b, _label_cell(task, layout, i)))
        fixture.rows[split] = rows

        label_col = layout.columns.index(layout.label)
        lines: list[bytes] = []
        if layout.has_header:
            header = list(layout.columns)
            if defect == "missing_header_column":
                header[label_col] = "lable"
            lines.append("\t".join(header).encode("utf-8"))
        elif defect == "missing_header_column":
            raise ValueError(f"{task_folder} {split} has no header to break")
        first_data_line = len(lines) + 1
        if defect != "header_only":
            for i, (a, b, y) in enumerate(rows):
                cells = _cells(layout, i, a, b or "", y)
                if i == malformed_row and defect == "bad_label":
                    cells[label_col] = bad_value or _default_bad_value(task, layout)
                if i == malformed_row and defect == "missing_column":
                    cells = cells[:-1]
                if i == malformed_row and defect == "extra_column":
                    cells = [*cells, "extra"]
                line = "\t".join(cells).encode("utf-8")
                if i == malformed_row and defect == "bad_encoding":
                    line = line[:3] + b"\xff\xfe" + line[3:]
                lines.append(line)

        if defect in ("missing_column", "extra_column", "bad_label", "bad_encoding"):
            if not 0 <= malformed_row < n:
                raise ValueError(f"malformed_row {malformed_row} outside the {n} rows of {split}")
            fixture.bad_split, fixture.bad_line = split, first_data_line + malformed_row
        elif defect in ("empty_file", "missing_header_column"):
            fixture.bad_split, fixture.bad_line = split, 1
        elif defect == "header_only":
            fixture.bad_split, fixture.bad_line = split, first_data_line
        elif defect == "missing_file":
            fixture.bad_split = split
            continue

        path.parent.mkdir(parents=True, exist_ok=True)
        final = b"" if split in quirks.no_final_newline else newline
        data = b"" if defect == "empty_file" else newline.join(lines) + final
        if quirks.bom and data:
            data = BOM.encode("utf-8") + data
        path.write_bytes(data)
    return fixture
