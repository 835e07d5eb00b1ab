"""Sizes and overrides of the tiny GLUE runs (shared by conftest.py and the tests)."""

from __future__ import annotations

N_TRAIN, N_DEV = 24, 8

# A run of a second or so: 12 labels, 4 at a time, few index samples, no progress bar.
TINY_COMMON = [
    "model=tiny",
    "acquisition.num_index_samples=4",
    "eval.num_index_samples=4",
    "trainer.accelerator=cpu",
    "progress_bar=false",
]
TINY_BUDGETS = {
    "prioritized": [
        "budget=prioritized",
        "budget.max_labels=12",
        "budget.candidate_batch_size=8",
        "budget.batch_size=4",
        "budget.max_steps=5",
        "budget.eval_labels=[4,8,12]",
    ],
    "pool": [
        "budget=glue_pool",
        "budget.max_labels=12",
        "budget.initial_labels=4",
        "budget.acquire_size=4",
        "budget.train_steps=2",
        "budget.batch_size=4",
        "budget.pool_subsample=10",
        "budget.score_batch_size=8",
    ],
}
