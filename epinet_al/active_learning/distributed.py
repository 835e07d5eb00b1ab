"""One run over several processes (data parallel): what each rank computes, and how the results meet.

Every rank holds the whole run: the same config, seed streams, model and label ledger. The acquisition's
random draws (candidates, index samples, targets, stochastic selection) come from the same generators on
every rank, so the ranks agree on them without sending anything. Only the computation is split:

- scoring: the forward batches of a call (``budget.score_batch_size`` candidates each, in length order)
  are cut into one contiguous share per rank; each rank computes the logits of its batches and the
  logits are gathered. The batches are those of one process, so every rank ranks exactly the [A, B, C]
  logits one process computes (a float32 forward is only reproducible for the same batch), and selects
  the same examples. A call that fits one batch is computed by every rank;
- training: each rank runs its share of the batch, its data loss weighted by the share's size, and
  Fabric's DDP wrapper averages the gradients: the update of the whole batch.

Rank 0 evaluates and writes the run's files; ``check_same_ledger`` stops the run at an evaluation point
where the ranks' ledgers differ. With one process every function here returns its input.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, cast

import torch
from lightning_fabric import Fabric
from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from lightning_fabric.strategies import DDPStrategy

from epinet_al.active_learning.ledger import LabelLedger

# How Fabric's DDP starts the processes of one machine: `ddp` joins processes that srun or torchrun
# started (it would otherwise run the command line again, which the CLI's folder lock refuses).
START_METHODS: dict[str, Literal["popen", "spawn", "fork"]] = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork"}


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
    # find_unused_parameters: a fine-tuned encoder has parameters no head uses (BERT's pooler).
    return DDPStrategy(start_method=START_METHODS[name], broadcast_buffers=False, find_unused_parameters=True)


def share(fabric: Fabric | _Rank, num: int) -> slice:
    """This rank's contiguous share of ``num`` parts (the first ``num % world`` ranks take one more).

    All of them when there are fewer parts than ranks: then every rank computes every part.
    """
    world = fabric.world_size
    if not is_sharded(fabric, num):
        return slice(0, num)
    base, extra = divmod(num, world)
    rank = fabric.global_rank
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def is_sharded(fabric: Fabric | _Rank, num: int) -> bool:
    """Whether ``num`` parts are shared out (several ranks, at least one part each)."""
    return fabric.world_size > 1 and num >= fabric.world_size


def gather(fabric: Fabric, local: torch.Tensor, part_sizes: list[int], dim: int) -> torch.Tensor:
    """The rows of every rank's parts put together in order along ``dim``, on the CPU.

    ``local`` holds this rank's rows: those of its ``share`` of the parts, whose sizes are ``part_sizes``.
    """
    if not is_sharded(fabric, len(part_sizes)):
        return local
    world = fabric.world_size
    sizes = [sum(part_sizes[share(_Rank(world, rank), len(part_sizes))]) for rank in range(world)]
    padding = list(local.shape)
    padding[dim] = max(sizes) - local.shape[dim]
    padded = torch.cat([local, local.new_zeros(padding)], dim)  # all_gather needs one shape on every rank
    gathered = cast(torch.Tensor, fabric.all_gather(padded.to(fabric.device))).cpu()  # [world, ...]
    return torch.cat([gathered[rank].narrow(dim, 0, size) for rank, size in enumerate(sizes)], dim)


@dataclass
class _Rank:
    """Another rank, as ``share`` sees it."""

    world_size: int
    global_rank: int


def check_same_ledger(fabric: Fabric, ledger: LabelLedger) -> None:
    """Raise if the ranks' ledgers differ (they are kept equal by equal draws, never sent)."""
    if fabric.world_size == 1:
        return
    order = ledger.labeled_indices().numpy()  # the labels in the order they were revealed
    digest = int.from_bytes(hashlib.sha256(order.tobytes()).digest()[:7], "big")
    digests = cast(torch.Tensor, fabric.all_gather(torch.tensor(digest, device=fabric.device))).flatten().tolist()
    if len(set(digests)) > 1:
        raise RuntimeError(
            f"the ranks hold different label ledgers at {ledger.num_labels} labels (digests {digests}); "
            "the run is not data-parallel safe: report it with the config"
        )
