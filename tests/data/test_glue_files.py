"""GLUE registry and TSV reader: every layout, every malformation, and the real files when present."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import torch

from epinet_al.data.glue_files import (
    GlueFormatError,
    TextExamples,
    glue_file_path,
    hub_split_name,
    load_glue_split,
    read_glue_file,
)
from epinet_al.data.glue_tasks import GLUE_TASKS, get_glue_task, report_split_name
from tests.glue_fixtures import MALFORMED, write_glue_fixture

# Written out independently of the registry: TSV label -> Hugging Face id.
EXPECTED_LABEL_IDS = {
    "cola": {"0": 0, "1": 1},
    "sst2": {"0": 0, "1": 1},
    "mrpc": {"0": 0, "1": 1},
    "qqp": {"0": 0, "1": 1},
    "mnli": {"entailment": 0, "neutral": 1, "contradiction": 2},
    "qnli": {"entailment": 0, "not_entailment": 1},
    "rte": {"entailment": 0, "not_entailment": 1},
    "wnli": {"0": 0, "1": 1},
}
FOLDERS = {
    "cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "qqp": "QQP", "stsb": "STS-B",
    "mnli": "MNLI", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI",
}  # fmt: skip
SINGLE_SENTENCE = {"cola", "sst2"}


def _expected(rows, task):
    """What a reader should return for rows written with the label cells of `task` (ids as test_registry_facts
    checks them against EXPECTED_LABEL_IDS)."""
    text_a = [a for a, _, _ in rows]
    text_b = [b for _, b, _ in rows] if task.is_pair else None
    if task.is_regression:
        labels = torch.tensor([float(y) for _, _, y in rows], dtype=torch.float32)
    else:
        labels = torch.tensor([task.labels.index(y) for _, _, y in rows], dtype=torch.long)
    return text_a, text_b, labels


# --- registry ------------------------------------------------------------------------------------


def test_registry_facts():
    assert set(FOLDERS) <= set(GLUE_TASKS)  # more GLUE-format tasks may be registered
    for name, task in GLUE_TASKS.items():
        assert task.name == name == task.hub_config
    for name in FOLDERS:
        task = GLUE_TASKS[name]
        assert task.folder == FOLDERS[name]
        assert task.hub_dataset == "nyu-mll/glue"  # a bare "glue" loads a local ./glue folder (D11)
        assert task.is_pair == (name not in SINGLE_SENTENCE)
        if name == "stsb":
            assert task.is_regression and task.num_labels == 1 and "nll" not in task.metrics
        else:
            assert not task.is_regression
            assert {y: i for i, y in enumerate(task.labels)} == EXPECTED_LABEL_IDS[name]
            assert task.num_labels == len(task.labels) and "nll" in task.metrics
        assert task.primary_mode == "max"
    expected_primary = {"cola": "matthews", "mrpc": "f1", "qqp": "f1", "stsb": "pearson"}
    for name in FOLDERS:
        task = GLUE_TASKS[name]
        assert task.primary_metric == expected_primary.get(name, "acc")
    assert get_glue_task("stsb").metrics == ("pearson", "spearman")
    assert "acc" in get_glue_task("mrpc").metrics and "acc" in get_glue_task("qqp").metrics
    assert get_glue_task("mnli").eval_splits == ("dev_matched", "dev_mismatched")
    assert report_split_name("supplementary_dev_mismatched") == "val_mismatched"


@pytest.mark.parametrize("bad", ["SST2", "sst-2", "glue", ""])
def test_get_glue_task_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="unknown GLUE task") as info:
        get_glue_task(bad)
    assert repr(bad) in str(info.value) and "sst2" in str(info.value) and "wnli" in str(info.value)


def test_task_is_frozen():
    with pytest.raises(AttributeError):
        get_glue_task("rte").folder = "X"  # type: ignore[misc]


# --- reading every layout ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GLUE_TASKS))
def test_reads_every_layout(tmp_path, name):
    task = get_glue_task(name)
    fixture = write_glue_fixture(tmp_path, task.folder, n_train=7, n_dev=5)
    assert set(fixture.files) == set(task.splits)
    for split in task.splits:
        examples = load_glue_split(task, split, tmp_path)
        text_a, text_b, labels = _expected(fixture.rows[split], task)
        assert isinstance(examples, TextExamples)
        assert len(examples) == (7 if split == "train" else 5)
        assert examples.text_a == text_a
        assert examples.text_b == text_b
        assert examples.labels.dtype == labels.dtype
        assert torch.equal(examples.labels, labels)
        assert str(fixture.files[split]) in examples.source


def test_texts_are_verbatim_with_quotes_and_trailing_space(tmp_path):
    write_glue_fixture(tmp_path, "SST-2", n_dev=3)
    dev = load_glue_split(get_glue_task("sst2"), "dev", tmp_path)
    assert dev.text_a[0] == '"dev sentence 0, with an unbalanced quote, café ☕ '


def test_mrpc_bom_header_and_binary_labels(tmp_path):
    fixture = write_glue_fixture(tmp_path, "MRPC", n_dev=4)
    assert fixture.files["dev"].read_bytes().startswith(b"\xef\xbb\xbfQuality\t#1 ID")
    dev = load_glue_split(get_glue_task("mrpc"), "dev", tmp_path)
    assert dev.labels.tolist() == [0, 1, 0, 1]
    assert dev.text_b is not None and dev.text_b[2].startswith("dev second text 2")


def test_mnli_labels_in_hub_order_and_16_column_dev(tmp_path):
    fixture = write_glue_fixture(tmp_path, "MNLI", n_train=6, n_dev=3)
    header = fixture.files["dev_mismatched"].read_text(encoding="utf-8").split("\n")[0].split("\t")
    assert len(header) == 16 and header[-1] == "gold_label"
    task = get_glue_task("mnli")
    assert load_glue_split(task, "train", tmp_path).labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert load_glue_split(task, "dev_mismatched", tmp_path).labels.tolist() == [0, 1, 2]


def test_mnli_supplementary_splits(tmp_path):
    fixture = write_glue_fixture(tmp_path, "MNLI", n_dev=5, supplementary=True)
    task = get_glue_task("mnli")
    assert task.local_splits == (
        "train", "dev_matched", "dev_mismatched", "supplementary_dev_matched", "supplementary_dev_mismatched",
    )  # fmt: skip
    for split in ("supplementary_dev_matched", "supplementary_dev_mismatched"):
        assert fixture.files[split].parent.name == "supplementary"
        examples = load_glue_split(task, split, tmp_path)
        assert examples.labels.tolist() == [0, 1, 2, 0, 1]
        assert examples.text_a == [a for a, _, _ in fixture.rows[split]]
        assert examples.text_b == [b for _, b, _ in fixture.rows[split]]


def test_supplementary_splits_are_mnli_only(tmp_path):
    with pytest.raises(ValueError, match="supplementary_dev_matched") as info:
        load_glue_split(get_glue_task("rte"), "supplementary_dev_matched", tmp_path)
    assert "train, dev" in str(info.value)


def test_stsb_scores_are_float32_in_range(tmp_path):
    write_glue_fixture(tmp_path, "STS-B", n_train=6)
    train = load_glue_split(get_glue_task("stsb"), "train", tmp_path)
    assert train.labels.dtype == torch.float32
    assert train.labels.tolist() == [0.0, 1.25, 2.5, 3.75, 5.0, 1.0]


def test_crlf_line_endings_are_tolerated(tmp_path):
    fixture = write_glue_fixture(tmp_path, "RTE", n_dev=3, crlf=True)
    dev = load_glue_split(get_glue_task("rte"), "dev", tmp_path)
    assert dev.text_b == [b for _, b, _ in fixture.rows["dev"]]
    assert dev.labels.tolist() == [0, 1, 0]


def test_read_glue_file_reads_any_path(tmp_path):
    fixture = write_glue_fixture(tmp_path, "QNLI", n_dev=2)
    moved = tmp_path / "elsewhere.tsv"
    moved.write_bytes(fixture.files["dev"].read_bytes())
    examples = read_glue_file(moved, get_glue_task("qnli"), "dev")
    assert examples.labels.tolist() == [0, 1] and "elsewhere.tsv" in examples.source


# --- malformed input ------------------------------------------------------------------------------

ROW_DEFECTS = {
    "missing_column": "expected 4 tab-separated columns, found 3",
    "extra_column": "expected 4 tab-separated columns, found 5",
    "bad_label": "label 'maybe' is not one of ['entailment', 'not_entailment']",
    "bad_encoding": "not valid UTF-8",
    "empty_file": "empty file",
    "header_only": "no data rows",
    "missing_header_column": "missing header columns ['label']",
}


@pytest.mark.parametrize("defect", sorted(ROW_DEFECTS))
def test_malformed_rte_names_file_line_and_problem(tmp_path, defect):
    fixture = write_glue_fixture(tmp_path, "RTE", malformed=defect, malformed_row=2)
    with pytest.raises(GlueFormatError) as info:
        load_glue_split(get_glue_task("rte"), "dev", tmp_path)
    message = str(info.value)
    assert f"{fixture.files['dev']}:{fixture.bad_line}: " in message
    assert ROW_DEFECTS[defect] in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)
    if defect in ("missing_column", "bad_label", "bad_encoding"):
        assert fixture.bad_line == 4  # header + rows 0, 1 before the bad row


# Every layout rejects the row-level defects, at the right line.
@pytest.mark.parametrize("name", sorted(GLUE_TASKS))
@pytest.mark.parametrize("defect", ["missing_column", "bad_label", "bad_encoding", "empty_file"])
def test_malformed_every_layout(tmp_path, name, defect):
    task = get_glue_task(name)
    fixture = write_glue_fixture(tmp_path, task.folder, malformed=defect, malformed_split="train")
    with pytest.raises(GlueFormatError, match="^" + re.escape(f"{fixture.files['train']}:{fixture.bad_line}: ")):
        load_glue_split(task, "train", tmp_path)
    # The other files of the task are untouched and still read.
    for split in task.eval_splits:
        load_glue_split(task, split, tmp_path)


def test_bad_label_lists_valid_labels(tmp_path):
    write_glue_fixture(tmp_path, "MNLI", malformed="bad_label", malformed_split="dev_matched", bad_value="-")
    with pytest.raises(GlueFormatError, match=r":3: label '-' is not one of \['entailment', 'neutral'"):
        load_glue_split(get_glue_task("mnli"), "dev_matched", tmp_path)


def test_bad_label_in_supplementary_file(tmp_path):
    write_glue_fixture(tmp_path, "MNLI", supplementary=True, malformed="bad_label",
                       malformed_split="supplementary_dev_mismatched", malformed_row=0)  # fmt: skip
    with pytest.raises(GlueFormatError, match=r"\.premise_hypothesis_label\.tsv:1: label '3' is not one of"):
        load_glue_split(get_glue_task("mnli"), "supplementary_dev_mismatched", tmp_path)


@pytest.mark.parametrize("score", ["5.5", "-0.1", "high", "nan", "inf", ""])
def test_stsb_score_must_be_float_in_range(tmp_path, score):
    write_glue_fixture(tmp_path, "STS-B", malformed="bad_label", bad_value=score, malformed_row=0)
    with pytest.raises(GlueFormatError, match=r"dev\.tsv:2: STS-B score .* is not a float in \[0, 5\]"):
        load_glue_split(get_glue_task("stsb"), "dev", tmp_path)


def test_wrong_header_width_is_rejected(tmp_path):
    # An MNLI train file (12 columns) offered as dev_matched (16 columns).
    fixture = write_glue_fixture(tmp_path, "MNLI")
    fixture.files["dev_matched"].write_bytes(fixture.files["train"].read_bytes())
    with pytest.raises(GlueFormatError, match=r"dev_matched\.tsv:1: header has 12 columns, expected 16"):
        load_glue_split(get_glue_task("mnli"), "dev_matched", tmp_path)


def test_missing_file_names_path_and_lists_folder(tmp_path):
    fixture = write_glue_fixture(tmp_path, "SST-2", malformed="missing_file")
    with pytest.raises(GlueFormatError) as info:
        load_glue_split(get_glue_task("sst2"), "dev", tmp_path)
    message = str(info.value)
    assert str(fixture.files["dev"]) in message and "files in" in message and "train.tsv" in message
    assert "\n" not in message


def test_a_folder_in_place_of_the_file_is_named_as_such(tmp_path):
    # Before: "train.tsv: missing file ...; files in .../SST-2: dev.tsv, train.tsv" (D9).
    fixture = write_glue_fixture(tmp_path, "SST-2")
    fixture.files["train"].unlink()
    fixture.files["train"].mkdir()
    with pytest.raises(GlueFormatError) as info:
        load_glue_split(get_glue_task("sst2"), "train", tmp_path)
    assert str(info.value) == (
        f"{fixture.files['train']}: is a folder, not the file of GLUE task sst2 split 'train'; replace it with the "
        "TSV file"
    )


def test_the_run_records_a_fingerprint_of_each_file_read(tmp_path):
    fixture = write_glue_fixture(tmp_path, "SST-2")
    examples = load_glue_split(get_glue_task("sst2"), "dev", tmp_path)
    assert examples.fingerprint == "sha256:" + hashlib.sha256(fixture.files["dev"].read_bytes()).hexdigest()


def test_missing_task_folder_lists_data_dir(tmp_path):
    write_glue_fixture(tmp_path, "RTE")
    with pytest.raises(GlueFormatError, match=r"WNLI/train\.tsv: missing file .*does not exist.*: RTE"):
        load_glue_split(get_glue_task("wnli"), "train", tmp_path)


def test_unknown_split_is_a_value_error_listing_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'val' for GLUE task mnli; valid: train, dev_matched"):
        glue_file_path(get_glue_task("mnli"), "val", tmp_path)


def test_fixture_rejects_unknown_malformation(tmp_path):
    with pytest.raises(ValueError, match="missing_column"):
        write_glue_fixture(tmp_path, "RTE", malformed="typo")
    assert "missing_file" in MALFORMED


# --- sources ---------------------------------------------------------------------------------------


def test_hub_split_names():
    assert [hub_split_name(s) for s in ("train", "dev", "dev_matched", "dev_mismatched")] == [
        "train", "validation", "validation_matched", "validation_mismatched",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="supplementary_dev_matched"):
        hub_split_name("supplementary_dev_matched")


# --- the real files ---------------------------------------------------------------------------------

REAL_GLUE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "glue"
# Data rows of every file present in the offline copy (see its README.md).
REAL_ROWS = {
    ("cola", "train"): 8551, ("cola", "dev"): 1043,
    ("sst2", "train"): 67349, ("sst2", "dev"): 872,
    ("stsb", "train"): 5749, ("stsb", "dev"): 1500,
    ("qqp", "train"): 320,
    ("mnli", "train"): 480,
    ("mnli", "supplementary_dev_matched"): 9815, ("mnli", "supplementary_dev_mismatched"): 9832,
    ("qnli", "train"): 320, ("qnli", "dev"): 5463,
    ("rte", "train"): 2490, ("rte", "dev"): 277,
    ("wnli", "train"): 635, ("wnli", "dev"): 71,
}  # fmt: skip
needs_real_glue = pytest.mark.skipif(not REAL_GLUE_DIR.is_dir(), reason=f"no GLUE copy at {REAL_GLUE_DIR}")


@needs_real_glue
@pytest.mark.parametrize("name", sorted(GLUE_TASKS))
def test_layouts_match_the_real_files(name):
    # The fixtures are written from these layouts: the real files are the independent check of them.
    task = get_glue_task(name)
    for file in task.files:
        path = glue_file_path(task, file.split, REAL_GLUE_DIR)
        if not path.is_file():
            continue
        with open(path, encoding="utf-8-sig") as handle:
            first, second = handle.readline().rstrip("\r\n"), handle.readline().rstrip("\r\n")
        if file.layout.has_header:
            assert tuple(first.split("\t")) == file.layout.columns, path
        assert len(second.split("\t")) == len(file.layout.columns), path


@needs_real_glue
def test_real_glue_key_facts():
    sst2 = load_glue_split(get_glue_task("sst2"), "dev", REAL_GLUE_DIR)
    assert len(sst2) == 872 and torch.bincount(sst2.labels).tolist() == [428, 444]
    assert len(load_glue_split(get_glue_task("cola"), "dev", REAL_GLUE_DIR)) == 1043
    stsb = load_glue_split(get_glue_task("stsb"), "dev", REAL_GLUE_DIR)
    assert len(stsb) == 1500 and stsb.labels.min() >= 0.0 and stsb.labels.max() <= 5.0
    assert len(load_glue_split(get_glue_task("rte"), "dev", REAL_GLUE_DIR)) == 277
    mnli_m = load_glue_split(get_glue_task("mnli"), "supplementary_dev_matched", REAL_GLUE_DIR)
    assert len(mnli_m) == 9815 and torch.bincount(mnli_m.labels).tolist() == [3479, 3123, 3213]
    assert (mnli_m.text_a[0], mnli_m.labels[0].item()) == ("The new rights are nice enough", 1)


@needs_real_glue
@pytest.mark.parametrize(("name", "split"), sorted(REAL_ROWS))
def test_real_glue_every_file_parses(name, split):
    task = get_glue_task(name)
    examples = load_glue_split(task, split, REAL_GLUE_DIR)
    assert len(examples) == REAL_ROWS[(name, split)]
    assert (examples.text_b is None) == (not task.is_pair)
    if not task.is_regression:
        assert torch.bincount(examples.labels, minlength=task.num_labels).min() > 0


def test_hub_loader_maps_splits_and_columns_offline(monkeypatch):
    # No network: stand in for `datasets.load_dataset` and check what the loader asks for and builds.
    import datasets

    from epinet_al.data.glue_files import load_glue_split_from_hub

    calls = []

    def fake_load_dataset(path, name, split):
        calls.append((path, name, split))
        rows = {"premise": ["p0", "p1"], "hypothesis": ["h0", "h1"], "label": [2, 0], "idx": [0, 1]}
        return datasets.Dataset.from_dict(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    examples = load_glue_split_from_hub(get_glue_task("mnli"), "dev_mismatched")
    assert calls == [("nyu-mll/glue", "mnli", "validation_mismatched")]
    assert examples.fingerprint.startswith("hf:nyu-mll/glue/mnli[validation_mismatched]@")
    assert (examples.text_a, examples.text_b) == (["p0", "p1"], ["h0", "h1"])
    assert examples.labels.dtype == torch.long and examples.labels.tolist() == [2, 0]
    with pytest.raises(ValueError, match="unknown split"):
        load_glue_split_from_hub(get_glue_task("mnli"), "supplementary_dev_matched")
