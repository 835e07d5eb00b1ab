"""Every invalid config is refused while it is converted (to_experiment_config), before anything is built:
one ValueError naming the key, the bad value and the valid choices. The command line turns it into
`epinet-al: error: ...`, exit 2, no folder (tests/test_bad_input.py runs a few through the command).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from omegaconf import OmegaConf

from epinet_al.config import TrainerConfig, check_devices, to_experiment_config
from tests.spec_contexts import Listing, epistemic_on_plain_head, regression_priorities
from tests.tiny_configs import compose_config

GLUE = ["model=minilm"]
CASES = {
    # Cross-group rules, from the components' capabilities.
    "testbed_with_an_encoder": (
        ["model=tiny"],
        "model='tiny' reads text, but task 'testbed' gives vectors; valid models for task=testbed: identity",
    ),
    "glue_without_an_encoder": (
        ["task=sst2", "model=identity"],
        "model='identity' reads vectors, but task 'sst2' gives text; "
        "valid models for task=sst2: minilm (offline), bert_base, tiny",
    ),
    # Messages that list heads or priorities: a fixed prefix, then the names the registries give.
    "epistemic_priority_on_a_plain_head": (["head=mlp", "acquisition=bald"], epistemic_on_plain_head("bald", "mlp")),
    "classification_priority_on_regression": (
        ["task=stsb", *GLUE, "acquisition=entropy"],
        Listing.of(
            "priority 'entropy' needs class probabilities and does not apply to a regression task; "
            "valid priorities for regression: ",
            regression_priorities(),
        ),
    ),
    "encoder_dropout_without_a_training_encoder": (
        ["task=sst2", *GLUE, "head=encoder_dropout"],
        "head 'encoder_dropout' re-runs the encoder once per index sample and needs an encoder that runs: "
        "model=tiny, bert_base or minilm with model.finetune=full or top; model='minilm' (frozen) has none",
    ),
    "separate_pairs_in_full_fine_tuning": (
        ["task=rte", "model=tiny", "model.pair_encoding=separate"],
        "model.pair_encoding='separate' needs model.finetune=frozen (the head reads cached features of each "
        "sentence), got model.finetune='full'; use model.pair_encoding=joint to fine-tune",
    ),
    # Keys the schema does not have (Hydra adds them with `+` and to_object would drop them).
    "added_unknown_key": (
        ["+budget.max_lables=5"],
        "unknown key budget.max_lables; valid keys of budget: protocol, max_labels, candidate_batch_size, "
        "batch_size, max_steps, eval_labels, fractions, eval_every, replay, train_on, steps_per_draw, "
        "train_batch_size, score_batch_size",
    ),
    "added_unknown_top_level_key": (
        ["+sede=3"],
        "unknown key sede; valid keys of the config: task, model, head, acquisition, budget, trainer, logger, eval, "
        "seed, sweep, progress_bar, resume, keep_state",
    ),
    # One group's own fields.
    "zero_temperature": (
        ["task.temperature=0"],
        "task.temperature must be positive (logits are divided by it), got 0.0",
    ),
    "negative_subsample": (["budget=pool", "budget.pool_subsample=-3"], None),
    "seed_below_range": (["seed=-1"], "seed=-1 is out of range; valid seeds: 0..4294967295"),
    "seed_above_range": (["seed=4294967296"], "seed=4294967296 is out of range; valid seeds: 0..4294967295"),
    "eval_batch_size": (["eval.batch_size=0"], "eval.batch_size must be positive, got 0"),
    "eval_index_samples": (["eval.num_index_samples=0"], "eval.num_index_samples must be positive, got 0"),
    "acquisition_index_samples": (["acquisition.num_index_samples=0"], None),
    "epig_targets": (["acquisition=epig", "acquisition.num_targets=0"], None),
    "unknown_selection": (["acquisition.selection=best"], None),
    "unknown_priority": (["acquisition.priority=nope"], None),
    "head_train_index_samples": (["head.train_index_samples=0"], None),
    "head_index_dim": (["head.index_dim=0"], None),
    "negative_l2_scale": (["head.l2_scale=-1"], "head.l2_scale must be >= 0 (0: no L2 term), got -1.0"),
    "dropout_rate": (["head=dropout", "head.dropout_rate=1.0"], "head.dropout_rate must be in [0, 1), got 1.0"),
    "epinet_widths": (["head.epinet_hidden=[0]"], "head.epinet_hidden widths must be positive integers, got [0]"),
    "head_widths": (["head.hidden=[50,-1]"], "head.hidden widths must be positive integers, got [50, -1]"),
    "eval_labels": (["budget.eval_labels=[0,10]"], "budget.eval_labels must be positive integers, got [0, 10]"),
    "ensemble_size": (["head=ensemble", "head.ensemble_size=0"], None),
    "unknown_replay": (["budget.replay=best"], None),
    "batch_larger_than_candidates": (
        ["budget.batch_size=101"],
        "budget.batch_size=101 is larger than budget.candidate_batch_size=100",
    ),
    "negative_max_labels": (["budget.max_labels=-1"], None),
    "zero_max_steps": (["budget.max_steps=0"], "budget.max_steps must be positive, got 0"),
    "pool_initial_larger_than_budget": (["budget=pool", "budget.initial_labels=200"], None),
    "subset_no_sizes": (["budget=subset", "budget.fractions=[]"], None),
    "subset_no_steps": (["budget=subset", "budget.train_steps=0"], None),
    "testbed_pool_size": (["task.pool_size=0"], "task.pool_size must be positive, got 0"),
    "testbed_classes": (["task.num_classes=1"], None),
    "glue_task_split": (["task=sst2", *GLUE, "task.pool_split=test"], None),
    "glue_source": (["task=sst2", *GLUE, "task.source=web"], None),
    "glue_pool_in_eval": (["task=sst2", *GLUE, "task.eval_splits=[train]"], None),
    "unknown_pair_encoding": (["task=rte", *GLUE, "model.pair_encoding=both"], None),
    "model_finetune": (["task=sst2", *GLUE, "model.finetune=half"], None),
    "model_pooling": (["task=sst2", *GLUE, "model.pooling=max"], None),
    "model_schedule": (["task=sst2", *GLUE, "model.lr_schedule=cosine"], None),
    "model_warmup": (["task=sst2", *GLUE, "model.warmup_ratio=1.0"], None),
    "model_batch_size": (["task=sst2", *GLUE, "model.batch_size=0"], None),
    "model_max_length": (["task=sst2", *GLUE, "model.max_length=1"], None),
    "top_without_trainable_layers": (
        ["task=sst2", *GLUE, "model.finetune=top"],
        "model.finetune=top needs model.trainable_layers=k, the number of the encoder's top layers that train "
        "(e.g. model.trainable_layers=2)",
    ),
    "trainable_layers_beyond_the_encoder": (
        ["task=sst2", *GLUE, "model.finetune=top", "model.trainable_layers=7"],
        "model.trainable_layers=7 is out of range for model=minilm (6 layers); valid: 1..6",
    ),
    "trainable_layers_without_top": (
        ["task=sst2", *GLUE, "model.finetune=full", "model.trainable_layers=2"],
        "model.trainable_layers=2 applies to model.finetune=top, got model.finetune='full'; drop it or use "
        "model.finetune=top",
    ),
    "optimizer_lr": (["trainer.optimizer.lr=0"], "trainer.optimizer.lr must be a positive number, got 0"),
    "optimizer_weight_decay": (["trainer.optimizer.weight_decay=-0.1"], None),
    "unknown_accelerator": (["trainer.accelerator=abacus"], None),
    "zero_devices": (["trainer.devices=0"], "trainer.devices must be positive, got 0"),
    "negative_max_padding": (["trainer.max_padding=-0.1"], None),
    "zero_score_batch_size": (["budget.score_batch_size=0"], "budget.score_batch_size must be positive, got 0"),
    "unknown_logger_mode": (["logger=wandb", "logger.mode=loud"], None),
}


@pytest.mark.parametrize(("overrides", "message"), CASES.values(), ids=CASES.keys())
def test_invalid_config_is_refused_when_converted(overrides, message):
    with pytest.raises(ValueError) as error:
        to_experiment_config(compose_config(overrides), devices=False)
    text = str(error.value)
    assert "\n" not in text
    if isinstance(message, Listing):
        assert message.matches(text), text
    elif message is not None:
        assert text == message
    else:  # the key and the bad value are named
        key, _, value = overrides[-1].lstrip("+").partition("=")
        assert key.split(".")[-1] in text and value.strip("[]") in text, text


def test_gpu_on_a_machine_without_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    for accelerator in ("gpu", "cuda"):
        with pytest.raises(ValueError, match=rf"trainer.accelerator='{accelerator}' but this machine has no GPU"):
            to_experiment_config(compose_config([f"trainer.accelerator={accelerator}"]))
    with pytest.raises(ValueError, match="trainer.accelerator='gpu' but this machine has no GPU"):
        to_experiment_config(compose_config(["trainer=gpu"]))


def test_more_devices_than_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert to_experiment_config(compose_config(["trainer=gpu", "trainer.devices=2"])).trainer.devices == 2
    with pytest.raises(ValueError, match=r"^trainer.devices=3 but this machine has 2; valid: 1..2$"):
        check_devices(TrainerConfig(accelerator="gpu", devices=3))


def test_resolved_config_shows_the_testbed_prior_scale():
    cfg = to_experiment_config(compose_config(["task.temperature=0.5"]))
    assert cfg.head.prior_scale == pytest.approx(0.6)
    assert to_experiment_config(compose_config(["head.prior_scale=2.0"])).head.prior_scale == 2.0


def test_separate_pair_encoding_only_matters_for_pairs():
    # minilm encodes pairs separately; fine-tuning it on a single-sentence task is fine.
    assert to_experiment_config(compose_config(["task=sst2", *GLUE, "model.finetune=full"])).model.trains_encoder


def test_partial_fine_tuning_composes_for_bert_base_on_a_gpu():
    overrides = ["task=sst2", "model=bert_base", "model.finetune=top", "model.trainable_layers=2", "trainer=gpu"]
    cfg = to_experiment_config(compose_config(overrides), devices=False)
    assert cfg.model.trains_encoder and cfg.model.pooling == "pooler" and cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.max_padding is None  # one padded batch per step on a GPU


def test_glue_eval_splits_default_from_the_registry():
    cfg = to_experiment_config(compose_config(["task=rte", *GLUE]))
    assert cfg.task.eval_splits == ["dev"]
    mnli = to_experiment_config(compose_config(["task=mnli", *GLUE, "task.eval_splits=[]"]))
    assert mnli.task.eval_splits == ["dev_matched", "dev_mismatched"]


# Compositions that together hold every float key of every schema (heads, models, protocols).
FLOAT_KEY_CONFIGS = {
    "testbed_epinet": [],
    "glue_dropout": ["task=sst2", *GLUE, "head=dropout", "budget=pool"],
    "glue_ensemble_subset": ["task=sst2", *GLUE, "head=ensemble", "budget=subset", "trainer.gradient_clip_norm=1.0"],
    "glue_encoder_dropout": [
        "task=sst2",
        *GLUE,
        "model.finetune=full",
        "head=encoder_dropout",
        "model.dropout_rate=0.1",
    ],
}


@pytest.mark.parametrize("overrides", FLOAT_KEY_CONFIGS.values(), ids=FLOAT_KEY_CONFIGS.keys())
def test_every_float_key_refuses_nan_and_inf(overrides):
    """lr=nan used to pass the range checks (every comparison with nan is false) and fail in torch 16 s later."""
    base = compose_config(overrides)
    container = OmegaConf.to_container(base, resolve=True)
    keys = []

    def visit(node, key):
        if isinstance(node, dict):
            for child, value in node.items():
                visit(value, f"{key}.{child}" if key else child)
        elif isinstance(node, float):
            keys.append(key)

    visit(container, "")
    assert "trainer.optimizer.lr" in keys and len(keys) >= 4
    for key, bad in zip(keys, itertools.cycle([math.nan, math.inf, -math.inf]), strict=False):
        cfg = base.copy()
        OmegaConf.update(cfg, key, bad)
        with pytest.raises(ValueError) as error:
            to_experiment_config(cfg, devices=False)
        assert str(error.value) == f"{key}={bad} is not a finite number; give {key} a finite value"


def test_a_float_list_entry_is_named():
    with pytest.raises(ValueError, match=r"^budget.fractions\[1\]=inf is not a finite number"):
        to_experiment_config(compose_config(["budget=subset", "budget.fractions=[0.1,inf]"]), devices=False)


def test_the_testbed_prior_scale_equals_what_a_user_writes():
    """0.3 / 0.1 is 2.9999999999999996 in floating point: `head.prior_scale=3` must be the same setting."""
    default = to_experiment_config(compose_config([]), devices=False)
    assert default.head.prior_scale == 3.0
    assert to_experiment_config(compose_config(["head.prior_scale=3"]), devices=False).head.prior_scale == 3.0
