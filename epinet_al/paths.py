"""Where the configs are: the Hydra config folder that the command, the tests and the benchmarks compose from."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
SWEEPS_DIR = CONFIG_DIR.parent / "sweeps"
