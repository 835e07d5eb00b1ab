"""The protocol options (group ``budget``): their config dataclasses and loops (torch-free).

Each config checks its own fields in ``__post_init__`` (run by ``OmegaConf.to_object`` at compose time), and
what needs the pool's size (a budget larger than the pool) in ``check_pool``, called once the task is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from epinet_al.registry import ProtocolSpec, Registry, check_at_least, check_choice, check_positive

# What a prioritized step trains on once the label budget is spent (budget.replay).
REPLAYS = ("priority", "uniform")
# What each prioritized step's SGD updates train on (budget.train_on).
TRAIN_ON = ("selected", "labeled")


def check_fractions(fractions: list[float]) -> None:
    if any(not 0 < fraction <= 1 for fraction in fractions):
        raise ValueError(f"budget.fractions must be in (0, 1], got {list(fractions)}")


def fraction_sizes(fractions: list[float], pool_size: int) -> list[int]:
    """The label counts that ``fractions`` of a pool of ``pool_size`` are: each rounded, at least 1."""
    return [max(1, round(fraction * pool_size)) for fraction in fractions]


@dataclass
class BudgetConfig:
    """What every protocol's config answers: its labels on a pool of a given size."""

    protocol: str = MISSING

    def label_budget(self, pool_size: int) -> int:
        """The labels the protocol may reveal on a pool of ``pool_size``: what the ledger allows."""
        raise NotImplementedError

    def check_pool(self, pool_size: int) -> None:
        """Refuse a budget that the pool of ``pool_size`` cannot hold (one-line ValueError)."""
        raise NotImplementedError


def _check_max_labels(max_labels: int, pool_size: int) -> None:
    if max_labels > pool_size:
        raise ValueError(f"budget.max_labels={max_labels} is larger than the pool ({pool_size} examples)")


@dataclass
class PrioritizedBudgetConfig(BudgetConfig):
    """The paper's loop: per step, score a random candidate batch and train on the top ones."""

    protocol: str = "prioritized"
    # Label budget: distinct examples whose label may be revealed; 0: no cap (the whole pool, the paper's
    # anytime curve: labels used = distinct examples revealed after max_steps).
    max_labels: int = 100
    candidate_batch_size: int = 100  # N: candidates drawn per step, uniformly without replacement
    batch_size: int = 10  # n: top-scored candidates labeled and trained on per step
    max_steps: int = 1000  # SGD steps in all; after the budget is spent, only labeled data is used
    eval_labels: list[int] = field(default_factory=lambda: [10, 20, 40, 60, 80, 100])
    # Also evaluate when the labels used reach these fractions of the pool: the subset sizes budget=subset trains
    # on with the same fractions, so that an agent's curve has a point wherever the baseline's has one.
    fractions: list[float] = field(default_factory=list)
    eval_every: int = 0  # also evaluate every this many steps (0: only at eval_labels, fractions and the end)
    # Batches once the budget is spent: "priority" (the paper's loop: the top n of N labeled candidates)
    # or "uniform" (n labeled examples at random: plain training on the acquired set).
    replay: str = "priority"
    # What the SGD updates train on: "selected" (the paper's GLUE loop: one step on the top n just
    # labeled) or "labeled" (the reference's testbed experiment, neural_testbed/active_learning: the top n
    # join the labeled set, then steps_per_draw steps, each on train_batch_size labeled examples drawn at
    # random with replacement). "labeled" decouples training from the rate labels arrive: one step of n
    # per draw leaves the model at L labels trained on L/n steps of n examples only.
    train_on: str = "selected"
    steps_per_draw: int = 1  # SGD steps per step (draw) with train_on=labeled
    train_batch_size: int = 0  # examples per SGD step with train_on=labeled (0: batch_size)
    # Candidates per forward pass when scoring; token inputs are sorted by length into the passes. null: the
    # model's inference batch (model.batch_size where the encoder runs, eval.batch_size on features or vectors).
    score_batch_size: int | None = None

    def __post_init__(self) -> None:
        check_positive(self, "budget", "candidate_batch_size", "batch_size", "max_steps")
        if self.score_batch_size is not None:
            check_positive(self, "budget", "score_batch_size")
        check_at_least(self, "budget", 0, "0: no cap", "max_labels")
        check_at_least(self, "budget", 0, "0: only at eval_labels and the end", "eval_every")
        check_choice("budget", "replay", self.replay, REPLAYS)
        check_choice("budget", "train_on", self.train_on, TRAIN_ON)
        check_positive(self, "budget", "steps_per_draw")
        check_at_least(self, "budget", 0, "0: batch_size", "train_batch_size")
        if self.train_on == "selected" and (self.steps_per_draw != 1 or self.train_batch_size):
            raise ValueError(
                f"budget.steps_per_draw={self.steps_per_draw} and budget.train_batch_size={self.train_batch_size} "
                "apply to budget.train_on=labeled; with train_on=selected each step trains once on its top n"
            )
        if any(labels <= 0 for labels in self.eval_labels):
            raise ValueError(f"budget.eval_labels must be positive integers, got {list(self.eval_labels)}")
        check_fractions(self.fractions)
        if self.batch_size > self.candidate_batch_size:
            raise ValueError(
                f"budget.batch_size={self.batch_size} is larger than "
                f"budget.candidate_batch_size={self.candidate_batch_size}"
            )

    def label_budget(self, pool_size: int) -> int:
        return self.max_labels or pool_size  # 0 is no cap

    def check_pool(self, pool_size: int) -> None:
        _check_max_labels(self.max_labels, pool_size)
        if self.candidate_batch_size > pool_size:
            raise ValueError(
                f"budget.candidate_batch_size={self.candidate_batch_size} is larger than the pool ({pool_size})"
            )


@dataclass
class PoolBudgetConfig(BudgetConfig):
    """The pool-based protocol of other active-learning libraries, in rounds.

    A seeded random initial labeled set; each round trains on all labeled data, evaluates, then
    scores the unlabeled pool (or a random subsample of it) and labels the top acquire_size.
    """

    protocol: str = "pool"
    max_labels: int = 100
    initial_labels: int = 10
    acquire_size: int = 10  # k: labels acquired per round
    # SGD steps per round on the labeled set, in minibatches drawn from the labeled set reshuffled epoch
    # after epoch (an example repeats within a batch when fewer than batch_size are labeled: the reference fit).
    train_steps: int = 1000
    batch_size: int = 100
    reinitialize: bool = True  # retrain from the initial weights each round (else warm start)
    pool_subsample: int = 0  # score only this many random unlabeled examples per round (0: all)
    # Candidates scored per forward pass (null: the model's inference batch, as in the prioritized loop).
    score_batch_size: int | None = None

    def __post_init__(self) -> None:
        check_positive(self, "budget", "max_labels", "initial_labels", "acquire_size", "train_steps", "batch_size")
        if self.score_batch_size is not None:
            check_positive(self, "budget", "score_batch_size")
        check_at_least(self, "budget", 0, "0: score the whole pool", "pool_subsample")
        if self.initial_labels > self.max_labels:
            raise ValueError(
                f"budget.initial_labels={self.initial_labels} is larger than budget.max_labels={self.max_labels}"
            )

    def label_budget(self, pool_size: int) -> int:
        return self.max_labels

    def check_pool(self, pool_size: int) -> None:
        _check_max_labels(self.max_labels, pool_size)


@dataclass
class SubsetBudgetConfig(BudgetConfig):
    """The baseline without prioritization: fixed random subsets of the pool, each trained from scratch.

    Nested subsets (the first N of one seeded permutation of the pool) of sizes ``fractions`` of the pool
    (or ``sizes`` when given); each is trained from the initial weights for ``train_steps`` steps (or
    ``epochs`` passes when train_steps is 0, the paper's 10 epochs) and evaluated once: one curve point per size.
    """

    protocol: str = "subset"
    fractions: list[float] = field(default_factory=lambda: [0.05, 0.15, 0.5])
    sizes: list[int] = field(default_factory=list)
    train_steps: int = 1000
    epochs: float = 0.0
    batch_size: int = 100

    def __post_init__(self) -> None:
        check_positive(self, "budget", "batch_size")
        if not self.fractions and not self.sizes:
            raise ValueError("budget.fractions and budget.sizes are both empty; give the subset sizes to train on")
        if not self.sizes:
            check_fractions(self.fractions)
        if any(size <= 0 for size in self.sizes):
            raise ValueError(f"budget.sizes must be positive integers, got {list(self.sizes)}")
        if self.train_steps < 0 or (self.train_steps == 0 and self.epochs <= 0):
            raise ValueError(
                f"budget.train_steps={self.train_steps} with budget.epochs={self.epochs}: give a positive "
                "train_steps, or train_steps=0 and positive epochs"
            )

    def subset_sizes(self, pool_size: int) -> list[int]:
        """The subset sizes on a pool of ``pool_size``: sorted, distinct, each in [1, pool_size]."""
        sizes = self.sizes or fraction_sizes(self.fractions, pool_size)
        for size in sizes:
            if not 1 <= size <= pool_size:
                raise ValueError(
                    f"subset size {size} is outside [1, {pool_size}] (the pool size); valid: 1..{pool_size}"
                )
        return sorted(set(sizes))

    def label_budget(self, pool_size: int) -> int:
        return self.subset_sizes(pool_size)[-1]

    def check_pool(self, pool_size: int) -> None:
        self.subset_sizes(pool_size)


PROTOCOLS = Registry(
    "protocol",
    [
        ProtocolSpec("prioritized", PrioritizedBudgetConfig, "epinet_al.active_learning.prioritized:run_prioritized"),
        ProtocolSpec("pool", PoolBudgetConfig, "epinet_al.active_learning.pool:run_pool"),
        ProtocolSpec("subset", SubsetBudgetConfig, "epinet_al.active_learning.subset:run_subset"),
    ],
)
