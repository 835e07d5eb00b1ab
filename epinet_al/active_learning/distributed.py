"""One run over several processes (data parallel): what each rank computes, and how the results meet.

Every rank holds the whole run: the same config, seed streams, model and label ledger. The acquisition's
random draws (candidates, index samples, targets, stochastic selection) come from the same generators on
every rank, so the ranks agree on them without sending anything. Only the computation is split:

- scoring: the candidates of a call (in length order) are cut into one contiguous share per rank; each
  rank computes the logits of its share and the logits are gathered, so that every rank ranks the same
  [A, B, C] logits one process would compute, and selects the same examples;
- training: each rank runs its share of the batch, its data loss weighted by the share's size, and
  Fabric's DDP wrapper averages the gradients: the update of the whole batch.

Rank 0 evaluates and writes the run's files; ``check_same_ledger`` stops the run at an evaluation point
where the ranks' ledgers differ. With one process every function here returns its input.
"""

from __future__ import annotations

import hashlib

import torch
from lightning_fabric import Fabric
from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from lightning_fabric.strategies import DDPStrategy

from epinet_al.active_learning.ledger import LabelLedger

# How Fabric's DDP starts the processes of one machine: `ddp` joins processes that srun or torchrun
# started (it would otherwise run the command line again, which the CLI's folder lock refuses).
START_METHODS = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork"}


def processes_started_outside() -> bool:
    """Whether srun (a SLURM job step with several tasks) or torchrun started this run's processes."""
    return SLURMEnvironment.detect() or TorchElasticEnvironment.detect()


def fabric_strategy(name: str, processes: int) -> str | DDPStrategy:
    """Fabric's strategy for ``trainer.strategy`` over ``processes`` processes (devices x nodes).

    One process: Fabric's single-device strategy, whatever the name. ``auto``: ``ddp`` where srun or
    torchrun started the processes, else ``ddp_spawn`` (the run function is started once per device).
    """
    if processes == 1:
        return "auto"
    outside = processes_started_outside()
    if name == "auto":
        name = "ddp" if outside else "ddp_spawn"
    if name == "ddp" and not outside:
        raise ValueError(
            "trainer.strategy='ddp' joins processes started by srun or torchrun, and none were; "
            "valid strategies here: auto, ddp_spawn, ddp_fork"
        )
    # broadcast_buffers=False: the ranks run different numbers of scoring batches, and DDP would
    # broadcast the buffers (constants here: position ids, the epinet prior) at each forward: a hang.
    return DDPStrategy(start_method=START_METHODS[name], broadcast_buffers=False)


def share(fabric: Fabric, num: int) -> slice:
    """This rank's contiguous share of ``num`` rows (the first ``num % world`` ranks take one more).

    All rows when there are fewer rows than ranks: then every rank computes all of them.
    """
    world = fabric.world_size
    if world == 1 or num < world:
        return slice(0, num)
    base, extra = divmod(num, world)
    rank = fabric.global_rank
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def is_sharded(fabric: Fabric, num: int) -> bool:
    return fabric.world_size > 1 and num >= fabric.world_size


def gather(fabric: Fabric, local: torch.Tensor, num: int, dim: int) -> torch.Tensor:
    """Every rank's ``local`` rows (its ``share`` of ``num``, along ``dim``) put together in order, on the CPU."""
    if not is_sharded(fabric, num):
        return local
    world = fabric.world_size
    width = -(-num // world)
    padding = list(local.shape)
    padding[dim] = width - local.shape[dim]
    padded = torch.cat([local, local.new_zeros(padding)], dim)  # all_gather needs one shape on every rank
    gathered = fabric.all_gather(padded.to(fabric.device)).cpu()  # [world, ...]
    sizes = [num // world + (rank < num % world) for rank in range(world)]
    return torch.cat([gathered[rank].narrow(dim, 0, size) for rank, size in enumerate(sizes)], dim)


def check_same_ledger(fabric: Fabric, ledger: LabelLedger) -> None:
    """Raise if the ranks' ledgers differ (they are kept equal by equal draws, never sent)."""
    if fabric.world_size == 1:
        return
    order = ledger.labeled_indices().numpy()  # the labels in the order they were revealed
    digest = int.from_bytes(hashlib.sha256(order.tobytes()).digest()[:7], "big")
    digests = fabric.all_gather(torch.tensor(digest, device=fabric.device)).flatten().tolist()
    if len(set(digests)) > 1:
        raise RuntimeError(
            f"the ranks hold different label ledgers at {ledger.num_labels} labels (digests {digests}); "
            "the run is not data-parallel safe: report it with the config"
        )
