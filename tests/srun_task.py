"""One task of a data-parallel SLURM job, as submitit runs it: the sweep job's function on a run folder.

    python tests/srun_task.py <run folder> <epinet-al overrides...>

The test that starts it sets the variables srun sets (SLURM_NTASKS, SLURM_PROCID, ...), one process per task.
"""

from __future__ import annotations

import sys
from pathlib import Path

from epinet_al.jobs import run_sweep_job
from tests.tiny_configs import compose_config

if __name__ == "__main__":
    folder, *overrides = sys.argv[1:]
    result = run_sweep_job(compose_config(overrides), Path(folder))
    sys.exit(0 if result is not None else 1)
