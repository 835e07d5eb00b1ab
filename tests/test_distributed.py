"""Data-parallel runs on the CPU (gloo, forked processes): two processes label what one labels.

Two processes select the same examples in the same order as one process for the same seed (the ledger
is compared exactly) and write the same curve up to float rounding: the scores are exact (each rank runs
some of the one process's forward batches), the gradients of a batch's two halves, averaged by DDP, are
the one process's up to summation order. ``CURVE_RTOL`` and ``CURVE_ATOL`` document that tolerance
(differences seen: about 1e-8 on the testbed, up to 3e-7 on a small diagnostic of the fine-tuned tiny BERT).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning_fabric import Fabric
from lightning_fabric.strategies import DDPStrategy

from epinet_al.acquisition.priorities import get_priority
from epinet_al.active_learning import distributed
from epinet_al.active_learning.agent import Agent
from epinet_al.active_learning.checkpoint import STATE_FILE
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.data.inputs import TensorInputs
from epinet_al.experiment import run_experiment
from epinet_al.models import EnnModule
from epinet_al.networks.body import build_body
from epinet_al.networks.enn import ENN
from epinet_al.networks.epinet import EpinetHead
from epinet_al.tracking.recorder import CURVE_FILE, SUMMARY_FILE
from tests.slurm_cluster import slurm_cluster, slurm_launcher_overrides  # noqa: F401  (the fixture)
from tests.tiny_configs import TINY, experiment_config

pytestmark = pytest.mark.usefixtures("single_thread")

# Tolerance of a two-process curve against the one-process curve (same seed): |a - b| <= RTOL |b| + ATOL.
CURVE_RTOL, CURVE_ATOL = 1e-5, 1e-6
TWO_PROCESSES = ["trainer.devices=2", "trainer.strategy=ddp_fork"]
STALLED_CLI = Path(__file__).with_name("stalled_cli.py")
REPO_ROOT = Path(__file__).resolve().parents[1]


def read_curve(folder: Path) -> list[dict[str, float]]:
    with open(folder / CURVE_FILE) as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def ledger_order(folder: Path) -> list[int]:
    return torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)["ledger"]["order"]


def assert_same_curve(folder: Path, reference: Path) -> None:
    rows, expected = read_curve(folder), read_curve(reference)
    assert [(r["step"], r["num_labels"]) for r in rows] == [(r["step"], r["num_labels"]) for r in expected]
    for row, want in zip(rows, expected, strict=True):
        assert row.keys() == want.keys()
        for key in want:
            assert row[key] == pytest.approx(want[key], rel=CURVE_RTOL, abs=CURVE_ATOL), key


def test_the_shares_cover_every_part_once_in_order():
    for num in range(0, 12):
        for world in (1, 2, 3, 4):
            shares = [distributed.share(SimpleNamespace(world_size=world, global_rank=r), num) for r in range(world)]
            if num < world:  # every rank computes every part
                assert all(s == slice(0, num) for s in shares)
                continue
            parts = [i for s in shares for i in range(num)[s]]
            assert parts == list(range(num))
            assert max(s.stop - s.start for s in shares) - min(s.stop - s.start for s in shares) <= 1


def test_one_process_keeps_the_single_device_strategy_and_ddp_needs_srun(monkeypatch):
    assert distributed.fabric_strategy("ddp_spawn", 1) == "auto"
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    assert distributed.fabric_strategy("auto", 2)._start_method == "spawn"
    with pytest.raises(ValueError, match="valid strategies here: auto, ddp_spawn, ddp_fork"):
        distributed.fabric_strategy("ddp", 2)


def test_trainer_strategy_and_num_nodes_are_checked():
    with pytest.raises(ValueError, match="unknown trainer.strategy 'fsdp'; valid choices: auto, ddp, ddp_spawn"):
        experiment_config(["trainer.strategy=fsdp"])
    with pytest.raises(ValueError, match="trainer.num_nodes"):
        experiment_config(["trainer.num_nodes=0"])


def _agent(fabric: Fabric) -> tuple[Agent, TensorInputs]:
    torch.manual_seed(0)
    pool = TensorInputs(torch.randn(23, 5))
    body, dim = build_body(None, pool)
    head = EpinetHead(
        dim, 3, hidden=[16], index_dim=4, epinet_hidden=[8], include_hidden=False, prior="mlp",
        prior_hidden=[8], prior_scale=1.0,
    )  # fmt: skip
    module = EnnModule(ENN(body, head), optimizer=torch.optim.SGD, train_index_samples=4)
    module.index_generator = torch.Generator().manual_seed(1)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    module, optimizer = fabric.setup(module, optimizer)
    agent = Agent(
        fabric, module, optimizer, num_index_samples=6, eval_index_samples=6, eval_generator=torch.Generator()
    )
    return agent, pool


def _score_and_train(fabric: Fabric) -> tuple[np.ndarray, float, dict[str, np.ndarray]]:
    """Scores of 17 candidates in batches of 4, then one training step on 7 examples (uneven shares).

    NumPy arrays: a forked rank's tensors would travel back in shared memory that dies with the process.
    """
    agent, pool = _agent(fabric)
    candidates = torch.tensor([22, 3, 7, 0, 9, 14, 1, 5, 19, 2, 11, 8, 16, 4, 20, 6, 12])
    scores = agent.score(pool, candidates, get_priority("variance"), torch.Generator(), batch_size=4)
    rows = candidates[:7]
    loss = agent.train((pool.take(rows), rows % 3), step=1, num_labels=7)
    weights = {k: v.detach().numpy().copy() for k, v in agent.module.state_dict().items()}
    return scores.numpy().copy(), loss, weights


def test_sharded_scoring_and_training_equal_one_process():
    expected = _score_and_train(Fabric(accelerator="cpu", devices=1))
    two = Fabric(accelerator="cpu", devices=2, strategy=DDPStrategy(start_method="fork", broadcast_buffers=False))
    scores, loss, weights = two.launch(_score_and_train)
    np.testing.assert_array_equal(scores, expected[0])  # each candidate's logits do not depend on its batch
    assert loss == pytest.approx(expected[1], rel=1e-6)
    for key, value in expected[2].items():
        np.testing.assert_allclose(weights[key], value, rtol=1e-5, atol=1e-7)


def _ledger_check(fabric: Fabric) -> str:
    """Rank 1 labels one more example than rank 0: the check must stop every rank."""
    ledger = LabelLedger(torch.arange(10), budget=5)
    ledger.reveal(torch.tensor([3, 1] if fabric.global_rank == 0 else [3, 1, 4]))
    try:
        distributed.check_same_ledger(fabric, ledger)
    except RuntimeError as error:
        return str(error)
    return "not raised"


def test_ranks_with_different_ledgers_stop():
    two = Fabric(accelerator="cpu", devices=2, strategy=DDPStrategy(start_method="fork"))
    assert two.launch(_ledger_check).startswith("the ranks hold different label ledgers at 2 labels")


# Each protocol, and the prioritized loop training on random batches of every label (drawn alike on every rank).
TWO_PROCESS_RUNS = {
    **TINY,
    "prioritized-train_on_labeled": [
        *TINY["prioritized"], "budget.train_on=labeled", "budget.steps_per_draw=2", "budget.train_batch_size=7"
    ],
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("run", sorted(TWO_PROCESS_RUNS))
def test_two_processes_label_and_learn_as_one(tmp_path, run):
    overrides = [*TWO_PROCESS_RUNS[run], "keep_state=true", "budget.score_batch_size=3"]  # 2 ranks share the batches
    one = run_experiment(experiment_config(overrides), tmp_path / "one")
    two = run_experiment(experiment_config([*overrides, *TWO_PROCESSES]), tmp_path / "two")
    assert ledger_order(tmp_path / "two") == ledger_order(tmp_path / "one")
    assert_same_curve(tmp_path / "two", tmp_path / "one")
    assert two["final"]["num_labels"] == one["final"]["num_labels"]
    assert two["config"]["trainer"]["devices"] == 2


@pytest.mark.slow
def test_two_processes_killed_and_resumed_end_as_never_stopped(tmp_path):
    """SIGKILL of the whole process group (a preempted job) before step 4; run again, both ranks resume."""
    overrides = [*TINY["prioritized"], *TWO_PROCESSES, "keep_state=true"]
    reference = tmp_path / "reference"
    run_experiment(experiment_config(overrides), reference)

    killed = tmp_path / "run"
    marker = tmp_path / "stalled"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(STALLED_CLI), "train:4", str(marker), *overrides, f"hydra.run.dir={killed}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # its own process group: the kill reaches both ranks, as a preemption does
    )
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and (killed / STATE_FILE).exists()):
            assert process.poll() is None, "the run ended before step 4"
            assert time.monotonic() < deadline, f"no {STATE_FILE} after 120 s"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert not (killed / SUMMARY_FILE).exists()
    assert len(read_curve(killed)) == 2  # the evaluation points at steps 2 and 3

    run_experiment(experiment_config(overrides), killed)
    assert (killed / CURVE_FILE).read_bytes() == (reference / CURVE_FILE).read_bytes()
    assert ledger_order(killed) == ledger_order(reference)


@pytest.mark.slow
def test_tasks_started_by_srun_join_one_run(tmp_path):
    """Two tasks of one SLURM job (srun's variables, no cluster) run one sweep job: rank 0 locks and writes."""
    overrides = [*TINY["pool"], "trainer.devices=2", "keep_state=true"]  # strategy auto: join srun's tasks
    folder = tmp_path / "job"
    slurm = {"SLURM_NTASKS": "2", "SLURM_JOB_NAME": "epinet-al", "SLURM_JOB_ID": str(40000 + os.getpid() % 9999)}
    slurm |= {"SLURM_NODELIST": "localhost", "SLURM_NODEID": "0", "SLURM_NTASKS_PER_NODE": "2"}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO_ROOT), **slurm}
    tasks = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("srun_task.py")), str(folder), *overrides],
            env={**env, "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = [task.communicate(timeout=300)[0] for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0], "\n".join(output[-2000:] for output in outputs)
    for rank, output in enumerate(outputs):  # each task is one rank (no task started processes of its own)
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in output
        assert f"GLOBAL_RANK: {1 - rank}," not in output
    assert not (folder / "error.txt").exists()
    reference = tmp_path / "reference"
    run_experiment(experiment_config([*TINY["pool"], "keep_state=true"]), reference)
    assert ledger_order(folder) == ledger_order(reference)
    assert_same_curve(folder, reference)


def test_the_multi_gpu_slurm_preset_asks_for_one_task_per_gpu():
    from hydra import compose, initialize_config_dir

    from tests.tiny_configs import CONF_DIR

    overrides = ["hydra/launcher=slurm_gpus", "trainer=gpu", "trainer.devices=4", "trainer.num_nodes=2"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        launcher = compose(config_name="config", overrides=overrides, return_hydra_config=True).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
    assert launcher.max_num_timeout > 0  # requeued after a time-out, as the one-GPU preset


@pytest.mark.slow
def test_the_command_starts_its_processes_by_spawn(tmp_path):
    """`python -m epinet_al trainer.devices=2`: strategy auto spawns 2 processes, each importing the package
    afresh (and the command's module, which must not run the command again); one result, as one process's."""
    folder = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO_ROOT)}
    args = [*TINY["pool"], "trainer.devices=2", "keep_state=true", f"hydra.run.dir={folder}"]
    result = subprocess.run(
        [sys.executable, "-m", "epinet_al", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count(f"{folder}: ") == 1  # the result line, printed once (by the command)
    reference = tmp_path / "reference"
    run_experiment(experiment_config([*TINY["pool"], "keep_state=true"]), reference)
    assert ledger_order(folder) == ledger_order(reference)
    assert_same_curve(folder, reference)


@pytest.mark.slurm
def test_a_two_task_slurm_job_is_one_run(slurm_cluster, tmp_path):  # noqa: F811
    """hydra/launcher=slurm_gpus on the local cluster (CPU tasks): one sbatch job, 2 tasks, one run's results."""
    sweep_dir = tmp_path / "sweep"
    overrides = [*TINY["pool"], "budget.score_batch_size=3", "keep_state=true"]
    launcher = [o for o in slurm_launcher_overrides(slurm_cluster, sweep_dir) if o != "hydra/launcher=slurm"]
    command = [
        slurm_cluster["python"], "-m", "epinet_al", "-m", *overrides, "trainer.devices=2",
        "hydra/launcher=slurm_gpus", "hydra.launcher.gpus_per_node=0", *launcher,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    logs = "".join(path.read_text() for path in (sweep_dir / ".submitit").glob("*/*_log.*"))
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in logs and "GLOBAL_RANK: 1, MEMBER: 2/2" in logs  # one task per rank
    folder = sweep_dir / "testbed" / "identity" / "epinet" / "variance" / "seed0"
    reference = tmp_path / "reference"
    run_experiment(experiment_config(overrides), reference)
    assert ledger_order(folder) == ledger_order(reference)
    assert_same_curve(folder, reference)
