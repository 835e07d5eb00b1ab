"""Tiny GLUE folders in the exact layout of each task, with optional malformations, for offline tests.

`write_glue_fixture(root, "RTE")` writes `root/RTE/train.tsv` and `root/RTE/dev.tsv` and returns what
it wrote (texts and label cells per split), so a test can compare a reader's output against it.
The layouts are written out here independently of `epinet_al.data.glue_files` on purpose.

Faithful quirks: CoLA has no header and its dev file no final newline; the MRPC header starts with a
UTF-8 byte-order mark; SST-2 sentences end with a space; MNLI train has 12 columns and its dev files 16;
texts contain unbalanced double quotes and non-ASCII characters (files must be read with quoting off).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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

# Label cells in the TSV files, per folder (STS-B: scores, generated below).
_TSV_LABELS: dict[str, tuple[str, ...]] = {
    "CoLA": ("0", "1"),
    "SST-2": ("0", "1"),
    "MRPC": ("0", "1"),
    "QQP": ("0", "1"),
    "MNLI": ("entailment", "neutral", "contradiction"),
    "QNLI": ("entailment", "not_entailment"),
    "RTE": ("entailment", "not_entailment"),
    "WNLI": ("0", "1"),
}
_SUPPLEMENTARY_FILES = {
    "supplementary_dev_matched": "supplementary/dev_matched.premise_hypothesis_label.tsv",
    "supplementary_dev_mismatched": "supplementary/dev_mismatched.premise_hypothesis_label.tsv",
}
_MNLI_TRAIN_HEADER = [
    "index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
    "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label",
]  # fmt: skip
_MNLI_DEV_HEADER = [*_MNLI_TRAIN_HEADER[:11], "label2", "label3", "label4", "label5", "gold_label"]
_STSB_HEADER = [
    "index", "genre", "filename", "year", "old_index", "source1", "source2",
    "sentence1", "sentence2", "score",
]  # fmt: skip


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


@dataclass(frozen=True)
class _Format:
    header: list[str] | None
    cells: Callable[[int, str, str, str], list[str]]  # (row index, text_a, text_b, label) -> cells
    label_col: int  # index of the label cell that readers use
    pair: bool = True


def _formats(task_folder: str, split: str) -> _Format:
    if split in _SUPPLEMENTARY_FILES:
        return _Format(None, lambda i, a, b, y: [a, b, y], 2)
    if task_folder == "CoLA":
        return _Format(None, lambda i, a, b, y: ["gj04", y, "" if y == "1" else "*", a], 1, pair=False)
    if task_folder == "SST-2":
        return _Format(["sentence", "label"], lambda i, a, b, y: [a, y], 1, pair=False)
    if task_folder == "MRPC":
        header = [BOM + "Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
        return _Format(header, lambda i, a, b, y: [y, str(700000 + i), str(800000 + i), a, b], 0)
    if task_folder == "QQP":
        header = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
        return _Format(header, lambda i, a, b, y: [str(i), str(2 * i + 1), str(2 * i + 2), a, b, y], 5)
    if task_folder == "STS-B":
        meta = ["main-captions", "MSRvid", "2012test"]
        return _Format(_STSB_HEADER, lambda i, a, b, y: [str(i), *meta, f"{i:04d}", "none", "none", a, b, y], 9)
    if task_folder == "MNLI":
        parses = ["( a ( b c ) )", "( d e )", "(ROOT (S (NP a)))", "(ROOT (S (NP d)))"]
        if split == "train":
            return _Format(
                _MNLI_TRAIN_HEADER,
                lambda i, a, b, y: [str(i), str(100 + i), f"{100 + i}n", "fiction", *parses, a, b, y, y],
                11,
            )
        return _Format(
            _MNLI_DEV_HEADER,
            lambda i, a, b, y: [str(i), str(100 + i), f"{100 + i}n", "slate", *parses, a, b, *[y] * 6],
            15,
        )
    if task_folder == "QNLI":
        return _Format(["index", "question", "sentence", "label"], lambda i, a, b, y: [str(i), a, b, y], 3)
    if task_folder in ("RTE", "WNLI"):
        return _Format(["index", "sentence1", "sentence2", "label"], lambda i, a, b, y: [str(i), a, b, y], 3)
    raise ValueError(f"unknown GLUE folder {task_folder!r}; valid: {', '.join([*_TSV_LABELS, 'STS-B'])}")


def _label_cell(task_folder: str, split: str, i: int) -> str:
    if split in _SUPPLEMENTARY_FILES:
        return str(i % 3)
    if task_folder == "STS-B":
        return f"{(i * 1.25) % 5.25:.3f}"  # 0.000, 1.250, ..., 5.000, 1.000, ...
    labels = _TSV_LABELS[task_folder]
    return labels[i % len(labels)]


def _default_bad_value(task_folder: str, split: str) -> str:
    if split in _SUPPLEMENTARY_FILES:
        return "3"
    return "5.5" if task_folder == "STS-B" else "maybe"


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
        task_folder: GLUE folder name: CoLA, SST-2, MRPC, QQP, STS-B, MNLI, QNLI, RTE, WNLI.
        n_train, n_dev: data rows in train and in each dev file.
        supplementary: MNLI only: also write the 3-column supplementary dev files (n_dev rows each).
        malformed: one of `MALFORMED`, applied to the file of `malformed_split` (default: the first dev
            split) at data row `malformed_row` (0-based) where it concerns a row.
        bad_value: the label cell written by `bad_label` (default "maybe"; STS-B "5.5"; supplementary "3").
        crlf: end lines with CRLF instead of LF.
    """
    if malformed is not None and malformed not in MALFORMED:
        raise ValueError(f"unknown malformation {malformed!r}; valid: {', '.join(MALFORMED)}")
    dev_splits = ["dev_matched", "dev_mismatched"] if task_folder == "MNLI" else ["dev"]
    if supplementary:
        if task_folder != "MNLI":
            raise ValueError(f"supplementary files exist only for MNLI, not {task_folder!r}")
        dev_splits += list(_SUPPLEMENTARY_FILES)
    splits = ["train", *dev_splits]
    malformed_split = malformed_split or dev_splits[0]
    if malformed is not None and malformed_split not in splits:
        raise ValueError(f"malformed_split {malformed_split!r} not written; valid: {', '.join(splits)}")

    folder = Path(root) / task_folder
    fixture = GlueFixture(folder=folder)
    newline = b"\r\n" if crlf else b"\n"
    for split in splits:
        fmt = _formats(task_folder, split)
        path = folder / _SUPPLEMENTARY_FILES.get(split, f"{split}.tsv")
        fixture.files[split] = path
        n = n_train if split == "train" else n_dev
        defect = malformed if split == malformed_split else None

        rows = []
        for i in range(n):
            # Unbalanced quotes and non-ASCII text: a reader that honours quoting or assumes ASCII breaks.
            a = f'"{split} sentence {i}, with an unbalanced quote, café ☕'
            b = f"{split} second text {i} — naïve 'quote\"" if fmt.pair else None
            if task_folder == "SST-2":
                a += " "  # SST-2 sentences end with a space before the tab
            rows.append((a, b, _label_cell(task_folder, split, i)))
        fixture.rows[split] = rows

        header = list(fmt.header) if fmt.header is not None else None
        lines: list[bytes] = []
        if header is not None:
            if defect == "missing_header_column":
                header[fmt.label_col] = "lable"
            lines.append("\t".join(header).encode("utf-8"))
        elif defect == "missing_header_column":
            raise ValueError(f"{task_folder} {split} has no header to break")
        first_data_line = len(lines) + 1
        if defect != "header_only":
            for i, (a, b, y) in enumerate(rows):
                cells = fmt.cells(i, a, b or "", y)
                if i == malformed_row and defect == "bad_label":
                    cells[fmt.label_col] = bad_value or _default_bad_value(task_folder, split)
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
        # As in the official archive, CoLA dev.tsv has no newline after its last row.
        final = b"" if (task_folder == "CoLA" and split == "dev") else newline
        data = b"" if defect == "empty_file" else newline.join(lines) + final
        path.write_bytes(data)
    return fixture
