"""The frozen-feature cache: an interrupted encoding keeps its finished chunks and a rerun does the rest."""

from __future__ import annotations

import pytest
import torch

import epinet_al.data.feature_cache as feature_cache
from epinet_al.data.disk_cache import load_tensors
from epinet_al.data.text_inputs import TokenizedInputs

N = 10


def tokens() -> TokenizedInputs:
    """N examples; example i is i + 1 tokens, all of id i, so features can name their example."""
    lengths = torch.arange(1, N + 1)
    ids = torch.repeat_interleave(torch.arange(N, dtype=torch.int32), lengths)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    return TokenizedInputs(ids, offsets, None, pad_id=-1)


class FakeEncoder:
    """Features [B, 2] = (id, 2 * id) of each example; raises KeyboardInterrupt on batch ``interrupt_at``."""

    def __init__(self, interrupt_at: int | None = None):
        self.interrupt_at = interrupt_at
        self.encoded: list[int] = []
        self.batches = 0

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.batches == self.interrupt_at:
            raise KeyboardInterrupt
        self.batches += 1
        self.encoded += batch["input_ids"][:, 0].tolist()
        return self.output(batch["input_ids"])

    def output(self, ids: torch.Tensor) -> torch.Tensor:
        example = ids[:, 0].float()
        return torch.stack([example, 2 * example], dim=-1)


EXPECTED = torch.stack([torch.arange(N).float(), 2 * torch.arange(N).float()], dim=-1)


def test_an_interrupted_encoding_keeps_its_saved_chunks_and_a_rerun_encodes_only_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_cache, "SAVE_EVERY", 4)
    path, rows = tmp_path / "features.pt", torch.arange(N)
    interrupted = FakeEncoder(interrupt_at=3)  # batches of 2: saved after batch 2 (4 rows), lost batch 3
    with pytest.raises(KeyboardInterrupt):
        feature_cache.cached_features(path, tokens(), rows, interrupted, batch_size=2, name="test")
    saved = load_tensors(path)
    assert int(saved["done"].sum()) == 4 and len(interrupted.encoded) == 6
    done = saved["done"].nonzero().squeeze(1)
    torch.testing.assert_close(saved["features"][done], EXPECTED[done])

    rerun = FakeEncoder()
    features = feature_cache.cached_features(path, tokens(), rows, rerun, batch_size=2, name="test")
    torch.testing.assert_close(features, EXPECTED)
    assert sorted(rerun.encoded) == sorted(set(range(N)) - set(done.tolist()))
    assert load_tensors(path)["done"].all()


def test_a_complete_cache_encodes_nothing(tmp_path):
    path, rows = tmp_path / "features.pt", torch.tensor([1, 5, 7])
    feature_cache.cached_features(path, tokens(), torch.arange(N), FakeEncoder(), batch_size=3, name="test")
    again = FakeEncoder(interrupt_at=0)  # would raise if asked to encode anything
    torch.testing.assert_close(feature_cache.cached_features(path, tokens(), rows, again, 3, "test"), EXPECTED[rows])


def test_encoding_logs_the_count_and_the_split_name(tmp_path, caplog):
    with caplog.at_level("INFO", logger=feature_cache.__name__):
        feature_cache.cached_features(tmp_path / "f.pt", tokens(), torch.arange(N), FakeEncoder(), 4, "rte-train-a")
    assert "encoding 10 examples of rte-train-a" in caplog.text
