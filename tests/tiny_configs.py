"""The real Hydra configs, composed as the CLI composes them, and overrides that shrink a run to a second."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import epinet_al.config  # noqa: F401  (registers the schemas with Hydra's ConfigStore)
from epinet_al.config import ExperimentConfig, to_experiment_config
from epinet_al.paths import CONFIG_DIR

CONF_DIR = str(CONFIG_DIR)
SWEEPS_DIR = Path(CONFIG_DIR).parent / "sweeps"

# Shared by both protocols: a 40-example pool, a cheap evaluation, few index samples, no progress bar.
TINY_COMMON = [
    "task.pool_size=40",
    "task.test_size=50",
    "task.num_joint_batches=20",
    "eval.num_index_samples=5",
    "acquisition.num_index_samples=5",
    "budget.max_labels=20",
    "trainer.accelerator=cpu",
    "progress_bar=false",
]
TINY_PRIORITIZED = [
    "budget=prioritized",
    *TINY_COMMON,
    "budget.candidate_batch_size=10",
    "budget.batch_size=4",
    "budget.max_steps=30",
    "budget.eval_labels=[5,10,20]",
]
TINY_POOL = [
    "budget=pool",
    *TINY_COMMON,
    "budget.train_steps=5",
    "budget.initial_labels=4",
    "budget.acquire_size=4",
    "budget.batch_size=4",
]
TINY = {"prioritized": TINY_PRIORITIZED, "pool": TINY_POOL}


def compose_config(overrides: list[str], config_name: str = "config") -> DictConfig:
    """conf/<config_name>.yaml with command-line style ``overrides``, like `epinet-al` composes it."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)


def compose_sweep(name: str, overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """sweeps/<name>.yaml as `epinet-al --config-dir sweeps --config-name <name>` composes it.

    The sweep is the primary config and conf/ joins the search path. (The other way round,
    conf/ as the primary dir plus `hydra.searchpath=[sweeps]`, cannot find a primary config that
    lives on the added path in Hydra 1.3.)
    """
    with initialize_config_dir(config_dir=str(SWEEPS_DIR), version_base="1.3"):
        return compose(
            config_name=name,
            overrides=[f"hydra.searchpath=[file://{CONF_DIR}]", *overrides],
            return_hydra_config=return_hydra_config,
        )


def experiment_config(overrides: list[str]) -> ExperimentConfig:
    """The typed config of one run, as the entry point converts it."""
    return to_experiment_config(compose_config(overrides))
