"""A new GLUE-format task needs no test edit: the fixtures and the tests' contexts come from the GlueTask table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from epinet_al.data.glue_files import load_glue_split
from epinet_al.data.glue_tasks import GLUE_TASKS
from tests.glue_fixtures import write_glue_fixture

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def extra_task(monkeypatch):
    from tests.glue.extra_task import EXTRA_TASK

    monkeypatch.setitem(GLUE_TASKS, EXTRA_TASK.name, EXTRA_TASK)
    return EXTRA_TASK


def test_a_new_task_gets_its_fixture_from_its_table(extra_task, tmp_path):
    fixture = write_glue_fixture(tmp_path, extra_task.folder, n_train=5, n_dev=3)
    header = fixture.files["train"].read_text(encoding="utf-8").split("\n")[0]
    assert header == "pair_id\tpremise\thypothesis\tgold"
    dev = load_glue_split(extra_task, "dev", tmp_path)
    assert dev.text_a == [a for a, _, _ in fixture.rows["dev"]] and dev.text_b == [b for _, b, _ in fixture.rows["dev"]]
    assert dev.labels.tolist() == [0, 1, 0]


@pytest.mark.slow
def test_the_glue_tests_take_in_a_new_task_unedited(tmp_path):
    # The task registered before collection, as a new entry in data/glue_tasks.py would be: the table-driven tests
    # gain its cases, the session's GLUE folder its files, and nothing else changes.
    files = ["tests/data/test_glue_files.py", "tests/glue/test_glue_task.py"]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "tests.glue.extra_task", "-m", "not slow", "-rA", *files]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    passed = [line for line in result.stdout.splitlines() if line.startswith("PASSED") and "scitail" in line]
    assert len(passed) >= 5, result.stdout[-3000:]  # reads every layout, and each malformation
