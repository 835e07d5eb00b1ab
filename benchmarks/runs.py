"""Running many experiments for a benchmark script: composed in worker processes, skipped when done.

A job is (Hydra overrides, output folder). A folder that already holds a summary.json is a finished
run and is skipped, so an interrupted benchmark continues where it stopped.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

Job = tuple[list[str], str]


def run_one(overrides: list[str], out_dir: str) -> tuple[str, float]:
    """Compose the config and run one experiment (in a worker process); returns (out_dir, seconds)."""
    import logging
    import warnings

    from hydra import compose, initialize_config_dir

    from epinet_al.config import to_experiment_config
    from epinet_al.experiment import run_experiment
    from epinet_al.paths import CONFIG_DIR

    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = to_experiment_config(compose("config", overrides=overrides))
    run_experiment(cfg, Path(out_dir))
    return out_dir, time.perf_counter() - start


def run_jobs(jobs: list[Job], workers: int, label: str) -> None:
    """Run the jobs whose folder has no summary.json yet, ``workers`` processes at a time."""
    todo = [job for job in jobs if not (Path(job[1]) / "summary.json").exists()]
    start = time.perf_counter()
    print(f"{label}: {len(todo)} of {len(jobs)} runs to do", flush=True)
    if not todo:
        return
    # Spawned workers: a forked process would inherit the parent's torch thread pools.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_one, *job) for job in todo]
        for done, future in enumerate(as_completed(futures), 1):
            out_dir, seconds = future.result()
            print(f"  [{done}/{len(todo)}] {out_dir} ({seconds:.1f} s)", flush=True)
    print(f"{label}: {time.perf_counter() - start:.0f} s", flush=True)
