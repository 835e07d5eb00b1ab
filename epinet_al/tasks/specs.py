"""The task options: their config dataclasses, input kinds and builders (torch-free).

Each config checks its own fields in ``__post_init__`` (run by ``OmegaConf.to_object`` at compose time);
checks across groups are in ``epinet_al.config.check_compatible``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import II, MISSING, SI

from epinet_al.data.glue_tasks import GLUE_TASKS, report_split_name
from epinet_al.registry import Registry, TaskSpec, check_at_least, check_choice, check_positive, check_seed

SOURCES = ("local", "hub")


@dataclass
class TaskConfig:
    """What every task config has: its name and seed, and what its labels and inputs are."""

    name: str = MISSING
    # The task's draws (the testbed's problem, GLUE's subsets and tune split): the run's seed unless given.
    seed: int = II("seed")

    @property
    def regression(self) -> bool:
        """One real-valued label per example (STS-B) rather than a class."""
        return False

    @property
    def is_pair(self) -> bool:
        """Examples are sentence pairs."""
        return False

    @property
    def input_width(self) -> int | None:
        """The width of the input vectors the head reads without an encoder (None: the task gives text)."""
        return None

    @property
    def label_temperature(self) -> float | None:
        """The temperature of a synthetic task's labels (None: real labels)."""
        return None


@dataclass
class TestbedTaskConfig(TaskConfig):
    """The synthetic neural-testbed problem: x ~ N(0, I_D), y ~ softmax(h(x) / temperature)."""

    name: str = "testbed"
    input_dim: int = 10
    num_classes: int = 2
    temperature: float = 0.1
    pool_size: int = 200
    test_size: int = 1000
    # Dyadic sampling for the joint log-loss: batches of tau inputs drawn from kappa anchor points.
    num_joint_batches: int = 1000
    tau: int = 10
    kappa: int = 2
    # The problem's seed (generative network, pool, test set): the run's seed, one problem per seed.
    seed: int = II("seed")

    def __post_init__(self) -> None:
        check_positive(self, "task", "input_dim", "pool_size", "test_size", "num_joint_batches", "tau", "kappa")
        check_at_least(self, "task", 2, "classes", "num_classes")
        if self.temperature <= 0:
            raise ValueError(f"task.temperature must be positive (logits are divided by it), got {self.temperature}")
        check_seed("task", "seed", self.seed)

    @property
    def input_width(self) -> int | None:
        return self.input_dim

    @property
    def label_temperature(self) -> float | None:
        return self.temperature


@dataclass
class GlueTaskConfig(TaskConfig):
    """A GLUE task (epinet_al.data.glue_tasks): the pool from one split, evaluation on the dev splits."""

    name: str = MISSING  # the GLUE id: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli
    # "local": TSV files in the GLUE layout under data_dir; "hub": the Hugging Face `glue` dataset.
    source: str = "local"
    data_dir: str | None = SI("${oc.env:GLUE_DIR,null}")
    pool_split: str = "train"
    # Labelled splits evaluated at every curve point, reported as val (MNLI val_matched, val_mismatched);
    # empty: the task's dev splits from the GlueTask registry.
    eval_splits: list[str] = field(default_factory=list)
    # Random subsets for quick runs on large tasks (0: the whole split), drawn with `seed`.
    max_pool_size: int = 0
    max_eval_size: int = 0
    # Examples carved out of the pool split (drawn with `seed`) that are never acquired: a labelled split
    # for choosing hyperparameters, evaluated at every curve point as tune/<metric> (0: none).
    tune_size: int = 0
    # Token budget per example (pairs are truncated longest first); also capped by model.max_length.
    max_length: int = 128
    seed: int = II("seed")

    def __post_init__(self) -> None:
        if self.name == MISSING:
            return
        check_choice("task", "name", self.name, GLUE_TASKS)
        check_choice("task", "source", self.source, SOURCES)
        task = GLUE_TASKS[self.name]
        if self.eval_splits != MISSING and not self.eval_splits:
            self.eval_splits = list(task.eval_splits)
        valid = task.local_splits if self.source == "local" else task.splits
        for key, splits in (("pool_split", [self.pool_split]), ("eval_splits", self.eval_splits)):
            for split in splits:
                if split not in valid:
                    raise ValueError(
                        f"unknown split {split!r} in task.{key} for task {self.name} from source {self.source}; "
                        f"valid splits: {', '.join(valid)}"
                    )
        if self.pool_split in self.eval_splits:
            raise ValueError(
                f"task.pool_split={self.pool_split!r} is also in task.eval_splits={list(self.eval_splits)}"
            )
        names = [report_split_name(split) for split in self.eval_splits]
        if len(set(names)) != len(names):
            raise ValueError(
                f"task.eval_splits={list(self.eval_splits)} report under the same names {names}; keep one of each"
            )
        check_at_least(self, "task", 0, "0: the whole split", "max_pool_size", "max_eval_size")
        check_at_least(self, "task", 0, "0: no tune split", "tune_size")
        check_at_least(self, "task", 2, "a token budget", "max_length")
        check_seed("task", "seed", self.seed)

    @property
    def regression(self) -> bool:
        return GLUE_TASKS[self.name].is_regression

    @property
    def is_pair(self) -> bool:
        return GLUE_TASKS[self.name].is_pair


TASKS = Registry(
    "task",
    [
        TaskSpec("testbed", TestbedTaskConfig, "epinet_al.tasks.testbed:build_testbed_task", input_kind="vectors"),
        TaskSpec("glue", GlueTaskConfig, "epinet_al.tasks.glue:build_glue_task", input_kind="text"),
    ],
)
