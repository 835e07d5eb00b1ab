"""Tokenized pool inputs: dynamic padding, pairs with token types, subsets, the tokenization cache."""

from __future__ import annotations

import pytest
import torch

import epinet_al.data.text_inputs as text_inputs
from epinet_al.data.glue_files import TextExamples
from epinet_al.data.text_inputs import TokenizedInputs, cached_tokenize, tokenize
from epinet_al.networks.encoder import load_tokenizer, tokenizer_identity
from tests.tiny_configs import experiment_config


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(experiment_config(["task=sst2", "model=tiny"]).model)


def pairs(n: int = 5) -> TextExamples:
    first = [" ".join(["word"] * (i + 1)) for i in range(n)]
    second = [f"second text {i}" for i in range(n)]
    return TextExamples(first, second, torch.arange(n) % 2, "test pairs")


def test_take_pads_a_batch_to_its_own_longest_example(tokenizer):
    tokens = tokenize(tokenizer, pairs(), max_length=128)
    batch = tokens.take(torch.tensor([0, 2]))
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    lengths = tokens.lengths[[0, 2]]
    assert batch["input_ids"].shape == (2, int(lengths.max()))
    assert batch["attention_mask"].sum(1).tolist() == lengths.tolist()
    assert (batch["input_ids"][0, int(lengths[0]) :] == tokenizer.pad_token_id).all()
    expected = tokenizer(["word", "word word word"], ["second text 0", "second text 2"], padding=True)
    assert batch["input_ids"].tolist() == expected["input_ids"]
    assert batch["token_type_ids"].tolist() == expected["token_type_ids"]  # segment b is type 1


def test_single_sentences_have_token_type_zero(tokenizer):
    examples = TextExamples(["one", "two words"], None, torch.tensor([0, 1]), "test")
    batch = tokenize(tokenizer, examples, max_length=16).take(torch.tensor([0, 1]))
    assert (batch["token_type_ids"] == 0).all()


def test_max_length_truncates(tokenizer):
    tokens = tokenize(tokenizer, pairs(), max_length=6)
    assert tokens.lengths.max() == 6


def test_subset_equals_taking_those_rows(tokenizer):
    tokens = tokenize(tokenizer, pairs(), max_length=128)
    rows = torch.tensor([4, 1, 3])
    subset = tokens.subset(rows)
    assert len(subset) == 3
    for key, value in subset.take(torch.arange(3)).items():
        assert torch.equal(value, tokens.take(rows)[key]), key


def test_length_batches_cover_every_example_longest_first(tokenizer):
    tokens = tokenize(tokenizer, pairs(), max_length=128)
    batches = tokens.length_batches(2)
    assert sorted(torch.cat(batches).tolist()) == list(range(5))
    assert tokens.lengths[torch.cat(batches)].tolist() == sorted(tokens.lengths.tolist(), reverse=True)


def test_offsets_must_cover_the_tokens():
    with pytest.raises(ValueError, match="offsets"):
        TokenizedInputs(torch.zeros(5, dtype=torch.int32), torch.tensor([0, 2, 4]), None, 0)


def test_tokenization_is_cached_per_tokenizer_texts_and_max_length(tokenizer, tmp_path, monkeypatch):
    calls = []
    real = text_inputs.tokenize
    monkeypatch.setattr(text_inputs, "tokenize", lambda *a: calls.append(a[2]) or real(*a))
    key = tokenizer_identity(tokenizer)
    first, _ = cached_tokenize(tokenizer, key, pairs(), 128, tmp_path, "rte-train")
    second, _ = cached_tokenize(tokenizer, key, pairs(), 128, tmp_path, "rte-train")
    assert calls == [128]  # the second read the cache
    assert torch.equal(first.ids, second.ids) and torch.equal(first.type_ids, second.type_ids)
    cached_tokenize(tokenizer, key, pairs(), 64, tmp_path, "rte-train")  # another max length
    cached_tokenize(tokenizer, key, pairs(6), 128, tmp_path, "rte-train")  # other texts
    assert calls == [128, 64, 128]
    assert len(list((tmp_path / "tokens").glob("rte-train-*.pt"))) == 3
