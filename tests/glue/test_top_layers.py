"""Partial fine-tuning (model.finetune=top) on the tiny random BERT (2 layers): the cached path equals the
whole encoder, only the top layers train, a changed setting never reads a stale cache, resume is exact."""

from __future__ import annotations

import copy
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoConfig, AutoModel

from epinet_al.data.inputs import SequenceInputs
from epinet_al.experiment import build_module, run_experiment
from epinet_al.networks.encoder import LowerLayers, build_encoder_body, load_encoder, top_layers
from epinet_al.seeding import SeedStreams
from epinet_al.tasks.build import build_task
from tests.cli_runs import run_cli
from tests.glue.tiny_glue import N_DEV, N_TRAIN, TINY_BUDGETS, TINY_COMMON
from tests.test_resume import assert_same_run, kill_when_stalled

ROWS = torch.tensor([5, 0, 17, 3, 11])  # pool rows of different lengths, in no order


def top(k: int) -> list[str]:
    return ["model.finetune=top", f"model.trainable_layers={k}"]


def build(cfg):
    return build_task(cfg.task, cfg.eval, cfg.model, torch.device("cpu"))


def module_and_task(cfg):
    task = build(cfg)
    return build_module(cfg, task, SeedStreams.from_seed(cfg.seed)).eval(), task


# One case of each runs in the fast suite; the others (each a second or two) with the slow tests.
SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    ("k", "pooling"),
    [(1, "pooler"), *(pytest.param(k, p, marks=SLOW) for k, p in [(1, "cls"), (1, "mean"), (2, "cls"), (2, "pooler")])],
)
def test_the_cached_path_gives_the_logits_of_the_whole_encoder(glue_config, pooling, k):
    cfg = glue_config("rte", *top(k), f"model.pooling={pooling}")
    part, part_task = module_and_task(cfg)
    full, full_task = module_and_task(replace(cfg, model=replace(cfg.model, finetune="full", trainable_layers=None)))
    assert isinstance(part_task.pool, SequenceInputs) and len(part_task.pool) == N_TRAIN
    index = full.sample_index(3)
    with torch.no_grad():
        expected = full(full_task.pool.take(ROWS), index)  # [A, B, C] from the token ids
        logits = part(part_task.pool.take(ROWS), index)  # from the cached states of layer 2 - k
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-6)
    split = part_task.evaluator.splits[0]  # the dev set is cached the same way
    assert isinstance(split.inputs, SequenceInputs) and len(split.inputs) == N_DEV


@pytest.mark.parametrize(
    ("pooling", "extra"),
    [("pooler", {"pooler.dense.weight", "pooler.dense.bias"}), pytest.param("cls", set(), marks=SLOW)],
)
def test_gradients_reach_exactly_the_top_layers_the_pooler_where_used_and_the_head(glue_config, pooling, extra):
    cfg = glue_config("sst2", *top(1), f"model.pooling={pooling}")
    module, task = module_and_task(cfg)
    encoder = module.enn.body.encoder
    whole = load_encoder(cfg.model)  # the same weights: the body holds the whole encoder's last layer
    last = {f"encoder.layer.0.{name}": p for name, p in whole.encoder.layer[-1].named_parameters()}
    pooler = {f"pooler.{name}": p for name, p in whole.pooler.named_parameters()}
    assert {name for name, _ in encoder.named_parameters()} == set(last) | extra
    for name, param in encoder.named_parameters():
        assert torch.equal(param, {**last, **pooler}[name]), name

    module.train()
    module.training_step((task.pool.take(ROWS), task.pool_labels[ROWS]), num_labels=5)["loss"].backward()
    for name, param in module.named_parameters():
        assert (param.grad is not None) == param.requires_grad, name
    groups = module.configure_optimizers().param_groups  # the encoder's settings apply to its top layer
    assert {id(p) for g in groups[1:] for p in g["params"]} == {id(p) for p in encoder.parameters()}
    assert all(g["lr"] == cfg.model.lr for g in groups[1:])


@pytest.mark.slow
def test_a_changed_trainable_layers_or_model_reads_its_own_cache(glue_config, tmp_path, caplog):
    settings = {"k1": top(1), "k2": top(2), "other_model": [*top(1), "model.init_seed=1"]}
    with caplog.at_level("INFO", logger="epinet_al.data.state_cache"):
        pools = {name: build(glue_config("sst2", *overrides)).pool for name, overrides in settings.items()}
        assert caplog.text.count("encoding") == 2 * len(settings)  # train and dev, per setting
        caplog.clear()
        build(glue_config("sst2", *top(1)))
    assert caplog.text.count("reusing the cached hidden states") == 2 and "encoding" not in caplog.text
    assert len(list((tmp_path / "cache" / "states").glob("sst2-train-*.pt"))) == len(settings)
    tokens = build(glue_config("sst2", "model.finetune=full")).pool
    for name, overrides in settings.items():  # each holds its own layer of its own encoder
        lower = LowerLayers(glue_config("sst2", *overrides).model).eval()
        batch = tokens.take(ROWS)
        with torch.no_grad():
            expected = lower(batch)[batch["attention_mask"].bool()]
        states = pools[name].take(ROWS)
        torch.testing.assert_close(states["inputs_embeds"][states["attention_mask"].bool()], expected)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_type", "extra"),
    [("bert", {}), ("roberta", {}), ("xlm-roberta", {}), ("electra", {"embedding_size": 16}), ("mpnet", {})],
)
def test_the_top_layers_of_other_bert_family_encoders_give_the_whole_encoder_s_output(model_type, extra):
    config = AutoConfig.for_model(
        model_type, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
        vocab_size=1000, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **extra,
    )  # fmt: skip
    torch.manual_seed(0)
    whole = AutoModel.from_config(config).eval()
    ids = torch.randint(5, 900, (3, 9), generator=torch.Generator().manual_seed(0))
    mask = (torch.arange(9) < torch.tensor([[9], [6], [3]])).long()
    for k in (1, 3):  # k = 3: only the embeddings are cached
        cfg = SimpleNamespace(name=model_type, trainable_layers=k, pooling="cls")
        lower, upper = copy.deepcopy(whole), top_layers(copy.deepcopy(whole), cfg)
        lower.encoder.layer = lower.encoder.layer[: 3 - k]
        with torch.no_grad():
            states = lower(input_ids=ids, attention_mask=mask).last_hidden_state
            output = upper(inputs_embeds=states, attention_mask=mask).last_hidden_state
            expected = whole(input_ids=ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(output[mask.bool()], expected[mask.bool()], rtol=1e-5, atol=1e-6)


def test_trainable_layers_beyond_the_encoder_are_refused_when_it_is_built(glue_config):
    cfg = glue_config("sst2", *top(1)).model
    cfg.trainable_layers = 3  # past the compose-time check, as a hub id's count is known only here
    with pytest.raises(
        ValueError, match=r"^model.trainable_layers=3 is out of range for model=tiny \(2 layers\); valid: 1..2$"
    ):
        build_encoder_body(cfg)


@pytest.mark.slow
def test_the_top_layers_train_under_mixed_precision(glue_config, tmp_path):
    # trainer=gpu's bf16 autocast, run on the CPU: the cached float32 states enter the autocast top layers.
    summary = run_experiment(glue_config("rte", *top(2), "trainer.precision=bf16-mixed"), tmp_path / "run")
    assert summary["final"]["num_labels"] == 12 and 0 < summary["final"]["train/loss"] < 10


@pytest.mark.slow
def test_a_second_command_reuses_the_cache_and_says_so(glue_dir, tmp_path, monkeypatch, capsys):
    args = [
        "task=sst2", f"task.data_dir={glue_dir}", *TINY_COMMON, *TINY_BUDGETS["prioritized"], *top(1),
        f"model.cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    for run in ("first", "second"):
        assert run_cli([*args, f"hydra.run.dir={tmp_path / run}"], monkeypatch, capsys).code == 0
    first, second = ((tmp_path / run / "epinet-al.log").read_text() for run in ("first", "second"))
    assert "encoding 24 examples of sst2-train, tiny layers 1-1" in first
    assert "reusing the cached hidden states of sst2-train, tiny layers 1-1 (24 examples)" in second
    assert "encoding" not in second
    assert (tmp_path / "first" / "curve.csv").read_bytes() == (tmp_path / "second" / "curve.csv").read_bytes()


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_uninterrupted_result(glue_dir, glue_config, tmp_path, monkeypatch, capsys):
    overrides = [*top(1), "budget.eval_labels=[4,8]"]  # evaluated at steps 1, 2 and 5
    reference = tmp_path / "reference"
    run_experiment(glue_config("sst2", *overrides), reference)
    killed = tmp_path / "run"
    args = [
        "task=sst2", f"task.data_dir={glue_dir}", *TINY_COMMON, *TINY_BUDGETS["prioritized"], *overrides,
        f"model.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={killed}",
    ]  # fmt: skip
    kill_when_stalled(args, "train:4", killed)  # steps 3 and 4 are lost
    assert run_cli(args, monkeypatch, capsys).code == 0
    assert_same_run(killed, reference)
