"""The `epinet-al` command: compose the Hydra config, convert it once, run the experiment."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from epinet_al.config import to_experiment_config
from epinet_al.experiment import run_experiment

# conf/ sits at the top of the repository, next to the package (installed in editable mode).
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _run(cfg: DictConfig) -> float:
    summary = run_experiment(to_experiment_config(cfg), Path(HydraConfig.get().runtime.output_dir))
    # The primary metric's final value: what a Hydra sweeper (e.g. Optuna) would optimise.
    return summary["final"][summary["metric"]["name"]]


def main() -> None:
    _run()


if __name__ == "__main__":
    main()
