"""The seed tree: one master seed, independent random streams for each part of a run.

    seed ──> task.seed (default ${seed}): the problem itself (testbed network, pool, test set;
    │                                     GLUE pool/eval subsampling)
    ├── init:        model initialisation (global torch RNG, set just before building the model)
    ├── acquisition: candidate draws and random priority scores (uniform)
    ├── index:       epistemic indices for training steps and scoring
    └── eval:        epistemic indices for evaluation

Streams come from numpy's SeedSequence, so they are independent of each other and adding a
stream never changes the numbers drawn by the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

STREAMS = ("init", "acquisition", "index", "eval")


@dataclass
class SeedStreams:
    init: int
    acquisition: torch.Generator
    index: torch.Generator
    eval: torch.Generator

    @classmethod
    def from_seed(cls, seed: int) -> SeedStreams:
        children = np.random.SeedSequence(seed).spawn(len(STREAMS))
        seeds = {name: int(child.generate_state(1)[0]) for name, child in zip(STREAMS, children, strict=True)}
        return cls(
            init=seeds["init"],
            acquisition=torch.Generator().manual_seed(seeds["acquisition"]),
            index=torch.Generator().manual_seed(seeds["index"]),
            eval=torch.Generator().manual_seed(seeds["eval"]),
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).get_state() for name in ("acquisition", "index", "eval")}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            getattr(self, name).set_state(value)
