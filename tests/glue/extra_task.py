"""A GLUE-format task that is not in the registry. As a plugin, ``pytest -p tests.glue.extra_task`` registers it before
collection and so runs the suite as if a user had added it (its ``GlueTask`` entry is the one code change a new task
needs, besides its YAML); imported as a module it registers nothing."""

from __future__ import annotations

from epinet_al.data.glue_tasks import GLUE_TASKS, FileLayout, GlueFile, GlueTask

# SciTail-like: a header with the texts after an id column, and word labels.
_LAYOUT = FileLayout(("pair_id", "premise", "hypothesis", "gold"), "premise", "hypothesis", "gold")
EXTRA_TASK = GlueTask(
    name="scitail",
    folder="SciTail",
    text_fields=("premise", "hypothesis"),
    labels=("entails", "neutral"),
    eval_splits=("dev",),
    metrics=("acc", "nll"),
    primary_metric="acc",
    files=(GlueFile("train", "train.tsv", _LAYOUT), GlueFile("dev", "dev.tsv", _LAYOUT)),
)


def pytest_configure(config) -> None:
    GLUE_TASKS[EXTRA_TASK.name] = EXTRA_TASK
