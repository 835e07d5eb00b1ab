"""Bad input through the `epinet-al` command: one line naming the bad value (and the valid ones where
there is a choice), exit status 2, no traceback, and no run folder left behind or changed.

Errors the command line alone shows (group options, config types, output and resume folders) are
refused before Hydra runs; the others when the run meets them, which then removes the run folder it
had just created. The GLUE reader's own checks are in tests/data/test_glue_files.py; here they are
seen from the command.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from epinet_al.acquisition.specs import PRIORITY_SPECS
from epinet_al.cli import group_options
from tests.cli_runs import run_cli, snapshot
from tests.glue.tiny_glue import N_DEV, N_TRAIN, TINY_BUDGETS
from tests.glue_fixtures import write_glue_fixture
from tests.spec_contexts import Listing, epistemic_on_plain_head
from tests.tiny_configs import TINY_POOL, TINY_PRIORITIZED

pytestmark = pytest.mark.usefixtures("single_thread")

GLUE = ["model=tiny", *TINY_BUDGETS["prioritized"], "progress_bar=false", "trainer.accelerator=cpu"]


def refused(args: list[str], tmp_path: Path, monkeypatch, capsys) -> str:
    """Run a command that must fail in ``tmp_path/run`` (or ``tmp_path/sweep``); its one error line."""
    folders = [f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    result = run_cli([*args, *folders], monkeypatch, capsys)
    assert result.code == 2, result.stderr[-3000:]
    error = result.error  # exactly one error line and no traceback
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()
    return error


# The valid options as the messages list them: the files under conf/ and the priority registry.
OPTIONS = {group: ", ".join(options) for group, options in group_options().items()}
ACQUISITIONS, PRIORITIES = OPTIONS["acquisition"], ", ".join(PRIORITY_SPECS)
P, SWEEP = TINY_PRIORITIZED, ["-m", *TINY_PRIORITIZED]
TESTBED_CASES = {
    # Unknown names: the valid options are listed.
    "unknown_task": (
        [*P, "task=nope"],
        f"unknown task 'nope'; valid task options: {OPTIONS['task']}",
    ),
    "unknown_model": (
        [*P, "model=nope"],
        f"unknown model 'nope'; valid model options: {OPTIONS['model']}",
    ),
    "unknown_head": (
        [*P, "head=nope"],
        f"unknown head 'nope'; valid head options: {OPTIONS['head']}",
    ),
    "unknown_acquisition": (
        [*P, "acquisition=nope"],
        f"unknown acquisition 'nope'; valid acquisition options: {ACQUISITIONS}",
    ),
    "unknown_priority": ([*P, "acquisition.priority=nope"], f"unknown priority 'nope'; valid priorities: {PRIORITIES}"),
    # In a sweep, every value is checked before the first job starts.
    "unknown_acquisition_in_sweep": (
        [*SWEEP, "acquisition=variance,nope"],
        f"unknown acquisition 'nope'; valid acquisition options: {ACQUISITIONS}",
    ),
    # A multirun whose only job is invalid: nothing to run.
    "unknown_priority_in_sweep": (
        [*SWEEP, "acquisition.priority=nope"],
        f"unknown priority 'nope'; valid priorities: {PRIORITIES}",
    ),
    "every_job_of_a_sweep_invalid": ([*SWEEP, "acquisition.priority=nope,nada"], "all 2 jobs are invalid"),
    # Hydra's own type and key errors, in one line.
    "not_an_integer": (
        [*P, "budget.max_labels=abc"],
        "Error merging override budget.max_labels=abc: Value 'abc' of type 'str' could not be converted to Integer",
    ),
    "not_an_integer_in_sweep": (
        [*SWEEP, "seed=0,x"],
        "Error merging override seed=x: Value 'x' of type 'str' could not be converted to Integer",
    ),
    "unparsable_override": (
        [*P, "budget.max_labels=[1,"],
        "cannot parse 'budget.max_labels=[1,': no viable alternative at input '[1,'",
    ),
    "unknown_key": (
        [*P, "budget.max_lables=10"],
        "Could not override 'budget.max_lables': Key 'max_lables' not in 'PrioritizedBudgetConfig'; valid keys: "
        "protocol, max_labels, candidate_batch_size, batch_size, max_steps, eval_labels, fractions, eval_every, "
        "replay, train_on, steps_per_draw, train_batch_size, score_batch_size",
    ),
    # A key added with `+` that the schema does not have (to_object would drop it silently).
    "added_unknown_key": (
        [*P, "+budget.max_lables=10"],
        "unknown key budget.max_lables; valid keys of budget: protocol, max_labels, candidate_batch_size, batch_size, "
        "max_steps, eval_labels, fractions, eval_every, replay, train_on, steps_per_draw, train_batch_size, "
        "score_batch_size",
    ),
    # Combinations that cannot run, refused from the components' capabilities.
    "testbed_with_an_encoder": (
        [*P, "model=tiny"],
        "model='tiny' reads text, but task 'testbed' gives vectors; valid models for task=testbed: identity",
    ),
    "zero_temperature": (
        [*P, "task.temperature=0"],
        "task.temperature must be positive (logits are divided by it), got 0.0",
    ),
    "seed_out_of_range": ([*P, "seed=-3"], "seed=-3 is out of range; valid seeds: 0..4294967295"),
    # An internal group set by hand (the trial's A18): Hydra's reason is on the line after a colon.
    "internal_group_of_another_head": (
        [*P, "task_head=testbed_epinet", "head=mlp"],
        "In 'task_head/testbed_epinet': ConfigKeyError raised while composing config: Key 'index_dim' not in "
        "'MLPHeadConfig'",
    ),
    "learning_rate_nan": (
        [*P, "trainer.optimizer.lr=nan"],
        "trainer.optimizer.lr=nan is not a finite number; give trainer.optimizer.lr a finite value",
    ),
    # Sizes.
    "batch_larger_than_candidates": (
        [*P, "budget.batch_size=11"],
        "budget.batch_size=11 is larger than budget.candidate_batch_size=10",
    ),
    "budget_larger_than_pool": (
        [*P, "budget.max_labels=41"],
        "budget.max_labels=41 is larger than the pool (40 examples)",
    ),
    "empty_pool": ([*P, "task.pool_size=0"], "task.pool_size must be positive, got 0"),
    "negative_steps": ([*P, "budget.max_steps=-1"], "budget.max_steps must be positive, got -1"),
    "pool_initial_larger_than_budget": (
        [*TINY_POOL, "budget.initial_labels=30"],
        "budget.initial_labels=30 is larger than budget.max_labels=20",
    ),
    "pool_zero_train_steps": ([*TINY_POOL, "budget.train_steps=0"], "budget.train_steps must be positive, got 0"),
    "learning_rate_not_a_number": (
        [*P, "trainer.optimizer.lr=abc"],
        "trainer.optimizer.lr must be a positive number, got 'abc'",
    ),
    "negative_weight_decay": (
        [*P, "trainer.optimizer.weight_decay=-0.1"],
        "trainer.optimizer.weight_decay must be a number >= 0, got -0.1",
    ),
    # Data-parallel settings: a strategy that does not exist, one that needs srun's or torchrun's processes
    # (refused when the run starts; the folder is taken back); and an evaluation batch of 0.
    "unknown_strategy": (
        [*P, "trainer.strategy=fsdp"],
        "unknown trainer.strategy 'fsdp'; valid choices: auto, ddp, ddp_spawn, ddp_fork",
    ),
    "ddp_without_srun": (
        [*P, "trainer.devices=2", "trainer.strategy=ddp"],
        "trainer.strategy='ddp' joins processes started by srun or torchrun, and none were; "
        "valid strategies here: auto, ddp_spawn, ddp_fork",
    ),
    "zero_eval_batch": (
        [*P, "eval.batch_size=0"],
        "eval.batch_size must be positive, got 0",
    ),
    # An epistemic priority needs a head with an index.
    "epistemic_priority_with_plain_head": (
        [*P, "head=mlp", "acquisition=bald"],
        epistemic_on_plain_head("bald", "mlp"),
    ),
}


@pytest.mark.parametrize(("args", "message"), TESTBED_CASES.values(), ids=TESTBED_CASES.keys())
def test_testbed_input_is_refused(tmp_path, monkeypatch, capsys, args, message):
    error = refused(args, tmp_path, monkeypatch, capsys)
    assert message.matches(error) if isinstance(message, Listing) else error == message, error


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trainer_without_a_gpu(tmp_path, monkeypatch, capsys):
    on_cpu = "trainer.accelerator=cpu"
    args = [*(o for o in P if o != on_cpu), "trainer=gpu"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)  # also on a machine with a GPU
    assert refused(args, tmp_path, monkeypatch, capsys) == (
        "trainer.accelerator='gpu' but this machine has no GPU; valid accelerators here: auto, cpu"
    )


@pytest.mark.slow
def test_invalid_jobs_of_a_sweep_are_listed_before_any_runs(tmp_path, monkeypatch, capsys):
    from epinet_al import cli

    monkeypatch.setattr(cli, "run_sweep_job", lambda cfg, output_dir: None)  # plan the sweep only: no job runs
    result = run_cli(
        [*SWEEP, "acquisition.priority=nope,variance,nada", f"hydra.sweep.dir={tmp_path}"], monkeypatch, capsys
    )
    assert result.stderr.splitlines()[:3] == [
        f"epinet-al: invalid job acquisition.priority=nope: unknown priority 'nope'; valid priorities: {PRIORITIES}",
        f"epinet-al: invalid job acquisition.priority=nada: unknown priority 'nada'; valid priorities: {PRIORITIES}",
        "epinet-al: 2 of 3 jobs are invalid (they fail at once); the others run",
    ]


def test_output_folder_that_cannot_be_created(tmp_path, monkeypatch, capsys):
    # As root every folder is writable; a path through a regular file fails for everyone.
    (tmp_path / "afile").write_text("")
    run = tmp_path / "afile" / "run"
    result = run_cli([*TINY_PRIORITIZED, f"hydra.run.dir={run}"], monkeypatch, capsys)
    assert result.code == 2
    assert result.error == f"output folder {run} cannot be created: {tmp_path / 'afile'} is not a folder"
    assert (tmp_path / "afile").read_text() == ""


def test_sweep_folder_that_cannot_be_created(tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("")
    result = run_cli(["-m", *TINY_PRIORITIZED, "seed=0,1", f"hydra.sweep.dir={tmp_path}/afile/s"], monkeypatch, capsys)
    assert result.code == 2 and result.error.startswith(f"output folder {tmp_path}/afile/s cannot be created")


@pytest.fixture
def finished_run(tiny_prioritized_run) -> Path:
    return tiny_prioritized_run


def test_resume_with_another_config_names_the_key_and_changes_nothing(finished_run, monkeypatch, capsys):
    before = snapshot(finished_run)
    result = run_cli([*TINY_PRIORITIZED, f"resume={finished_run}", "budget.batch_size=2"], monkeypatch, capsys)
    assert result.code == 2
    assert result.error == f"cannot resume {finished_run}: its config differs in budget.batch_size (4 saved, 2 now)"
    assert snapshot(finished_run) == before


# ---------------------------------------------------------------- GLUE


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("glue")
    for folder in ("RTE", "STS-B"):
        write_glue_fixture(root, folder, n_train=N_TRAIN, n_dev=N_DEV)
    return root


@pytest.fixture
def glue(tmp_path, monkeypatch):
    """Overrides for a tiny GLUE run with its caches under tmp_path; GLUE_DIR unset."""
    monkeypatch.delenv("GLUE_DIR", raising=False)
    return [*GLUE, f"model.cache_dir={tmp_path / 'cache'}"]


def test_classification_priority_on_the_regression_task(glue, glue_dir, tmp_path, monkeypatch, capsys):
    args = [*glue, "task=stsb", f"task.data_dir={glue_dir}", "acquisition=entropy"]
    assert refused(args, tmp_path, monkeypatch, capsys) == (
        "priority 'entropy' needs class probabilities and does not apply to a regression task; "
        "valid priorities for regression: uniform, variance"
    )


def test_glue_dir_unset(glue, tmp_path, monkeypatch, capsys):
    assert refused([*glue, "task=rte"], tmp_path, monkeypatch, capsys) == (
        "task 'rte' reads local GLUE files (task.source=local) but no folder is set: set the environment variable "
        "GLUE_DIR=/path/to/glue or task.data_dir=/path/to/glue (the folder holding RTE/), or task.source=hub to "
        "download"
    )


def test_glue_dir_pointing_nowhere(glue, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GLUE_DIR", str(tmp_path / "nowhere"))
    assert refused([*glue, "task=rte"], tmp_path, monkeypatch, capsys) == (
        f"task.data_dir='{tmp_path / 'nowhere'}' (default: the environment variable GLUE_DIR) is not a folder"
    )


def test_missing_glue_file(glue, tmp_path, monkeypatch, capsys):
    fixture = write_glue_fixture(tmp_path / "data", "RTE", malformed="missing_file", malformed_split="train")
    error = refused([*glue, "task=rte", f"task.data_dir={tmp_path / 'data'}"], tmp_path, monkeypatch, capsys)
    assert error == (
        f"{fixture.files['train']}: missing file for GLUE task rte split 'train'; files in {fixture.folder}: dev.tsv"
    )


def test_a_label_budget_beyond_the_pool_is_refused_before_anything_is_encoded(glue, tmp_path, monkeypatch, capsys):
    # Before: task=wnli budget=glue encoded both splits (74 s) before this error (trial D14).
    write_glue_fixture(tmp_path / "data", "WNLI", n_train=N_TRAIN, n_dev=N_DEV)
    monkeypatch.setattr("epinet_al.tasks.glue_inputs.load_tokenizer", lambda cfg: pytest.fail("encoding started"))
    args = [*glue, "task=wnli", f"task.data_dir={tmp_path / 'data'}", "budget.max_labels=1000"]
    error = refused(args, tmp_path, monkeypatch, capsys)
    assert error == f"budget.max_labels=1000 is larger than the pool ({N_TRAIN} examples)"
    assert not (tmp_path / "cache").exists()


MALFORMED = {
    "missing_column": "expected 4 tab-separated columns, found 3",
    "bad_label": "label 'maybe' is not one of ['entailment', 'not_entailment']",
    "empty_file": "empty file",
    "bad_encoding": "not valid UTF-8 (byte(s) 0xff: invalid start byte)",
}


@pytest.mark.parametrize(("defect", "problem"), MALFORMED.items(), ids=MALFORMED.keys())
def test_malformed_glue_file_names_file_and_line(glue, tmp_path, monkeypatch, capsys, defect, problem):
    fixture = write_glue_fixture(
        tmp_path / "data", "RTE", n_train=N_TRAIN, malformed=defect, malformed_split="train", malformed_row=2
    )
    error = refused([*glue, "task=rte", f"task.data_dir={tmp_path / 'data'}"], tmp_path, monkeypatch, capsys)
    assert error == f"{fixture.files['train']}:{fixture.bad_line}: {problem}"


def test_trainable_layers_beyond_the_encoder(glue, glue_dir, tmp_path, monkeypatch, capsys):
    args = [*glue, "task=sst2", f"task.data_dir={glue_dir}", "model.finetune=top", "model.trainable_layers=3"]
    assert refused(args, tmp_path, monkeypatch, capsys) == (
        "model.trainable_layers=3 is out of range for model=tiny (2 layers); valid: 1..2"
    )


def test_model_path_that_does_not_exist(glue, glue_dir, tmp_path, monkeypatch, capsys):
    path = tmp_path / "no" / "model"
    error = refused(
        [*glue, "task=rte", f"task.data_dir={glue_dir}", f"model.path={path}"], tmp_path, monkeypatch, capsys
    )
    assert re.fullmatch(
        re.escape(f"model.path='{path}' is neither an existing folder nor a Hugging Face hub id")
        + r".*valid forms: a hub id .*, a local model folder, pkg://<package>/<folder>",
        error,
    )
