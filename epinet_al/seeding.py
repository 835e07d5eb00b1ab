"""The seed tree: one master seed, independent random streams for each part of a run.

    seed ─┬─ task.seed (default ${seed}): the problem itself: the testbed's network, pool and test
          │      set; for GLUE, the random subsets drawn when task.max_pool_size/max_eval_size cap a split
          ├─ global RNGs (torch, numpy, Python): seeded with ``seed`` at the start of a run
          │   (Lightning's seed_everything)
          └─ SeedSequence(seed).spawn(6):
              ├── init:        model initialisation: the global torch RNG is re-seeded with it just
              │                before the model is built; after that it only drives the dropout
              │                layers of an encoder that is fine-tuned (model.finetune=full)
              ├── acquisition: candidate draws, random scores (uniform), stochastic selection, epig's
              │                target inputs, the pool protocol's initial labels and minibatch order
              ├── index:       epistemic indices for training steps, and for scoring unless
              │                acquisition.fixed_index (dropout masks and ensemble members of those
              │                heads are drawn from their index)
              ├── eval:        the one set of eval.num_index_samples indices that evaluates every point
              │                (drawn once, when the run starts: a point's value depends on the model only)
              ├── score:       the one set of acquisition.num_index_samples indices that scores every
              │                call with acquisition.fixed_index=true (drawn once, when the run starts)
              └── diagnostics: the selection diagnostics' fixed pool inputs, candidates and index draws
                               (active_learning/diagnostics.py; drawn once, when the run starts)

    fit_seed(seed, key): one subset fit of the subset protocol (active_learning/subset.py) draws its
    minibatches, training indices and dropout from a seed of its own, keyed by the subset's size, so that
    the baseline at a size is the same model whichever other sizes the run fits before it.

    model.init_seed (not from ``seed``): the weights of a randomly initialised encoder (model=tiny),
    the same for every seed, so that its cached features stay valid across seeds.

Streams come from numpy's SeedSequence, so they are independent of each other and adding a
stream never changes the numbers drawn by the others. The fixed index sets and diagnostic inputs drawn
at the start are saved in state.pt with the run. A run saves every stream's state (and the
global RNGs') in state.pt at each evaluation point; a resumed run continues them from there and
draws the same numbers as a run that was never stopped. Bit-identical results also need the same
machine, package versions and number of threads (OMP_NUM_THREADS / torch.set_num_threads): the
order of floating-point reductions, and so the last bits of a sum, depends on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

STREAMS = ("init", "acquisition", "index", "eval", "score", "diagnostics")
# The streams that are generators (``init`` is a seed for the global RNG).
GENERATORS = STREAMS[1:]


@dataclass
class SeedStreams:
    init: int
    acquisition: torch.Generator
    index: torch.Generator
    eval: torch.Generator
    score: torch.Generator
    diagnostics: torch.Generator

    @classmethod
    def from_seed(cls, seed: int) -> SeedStreams:
        children = np.random.SeedSequence(seed).spawn(len(STREAMS))
        seeds = {name: int(child.generate_state(1)[0]) for name, child in zip(STREAMS, children, strict=True)}
        return cls(init=seeds["init"], **{name: torch.Generator().manual_seed(seeds[name]) for name in GENERATORS})

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).get_state() for name in GENERATORS}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            getattr(self, name).set_state(value)


def fit_seed(seed: int, key: int) -> int:
    """The seed of one fit keyed by ``key`` (a subset's size): independent of the streams and of other keys.

    Its spawn key, (len(STREAMS), key), lies outside the streams' own ((0,) to (len(STREAMS) - 1,)).
    """
    return int(np.random.SeedSequence(seed, spawn_key=(len(STREAMS), key)).generate_state(1)[0])
