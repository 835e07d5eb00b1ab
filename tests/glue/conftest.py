"""GLUE fixtures for the encoder tests: every task layout written once per session, tiny run configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from epinet_al.config import ExperimentConfig
from epinet_al.data.glue_tasks import GLUE_TASKS
from tests.glue.tiny_glue import N_DEV, N_TRAIN, TINY_BUDGETS, TINY_COMMON
from tests.glue_fixtures import write_glue_fixture
from tests.tiny_configs import experiment_config


@pytest.fixture(scope="session")
def glue_dir(tmp_path_factory) -> Path:
    """A GLUE folder with every registered task in its layout, with every file (MNLI: its GLUE dev files and the
    supplementary ones that stand in for them)."""
    root = tmp_path_factory.mktemp("glue")
    for task in GLUE_TASKS.values():
        stand_ins = any(file.stands_in_for is not None for file in task.files)
        write_glue_fixture(root, task.folder, n_train=N_TRAIN, n_dev=N_DEV, supplementary=stand_ins)
    return root


@pytest.fixture
def glue_config(glue_dir, tmp_path):
    """``glue_config("rte", *overrides)``: the tiny run's typed config on the fixture files, caching under tmp_path.

    ``protocol="pool"`` shrinks the pool protocol's GLUE budget instead of the prioritized loop's.
    """

    def make(task: str, *overrides: str, protocol: str = "prioritized") -> ExperimentConfig:
        return experiment_config(
            [
                f"task={task}",
                f"task.data_dir={glue_dir}",
                *TINY_COMMON,
                *TINY_BUDGETS[protocol],
                f"model.cache_dir={tmp_path / 'cache'}",
                *overrides,
            ]
        )

    return make
