"""The hidden-state cache of partial fine-tuning: real lengths, rows added on demand, interruptions, a busy file."""

from __future__ import annotations

import threading

import pytest
import torch

import epinet_al.data.state_cache as state_cache
from epinet_al.data.disk_cache import exclusive, load_tensors
from tests.data.test_feature_cache import FakeEncoder, N, tokens


class FakeLayers(FakeEncoder):
    """Hidden states [B, L, 2] = (example id, position) at every position of each example."""

    def output(self, ids: torch.Tensor) -> torch.Tensor:
        position = torch.arange(ids.shape[1]).expand_as(ids)
        return torch.stack([ids.float(), position.float()], dim=-1)


def expected(rows: torch.Tensor) -> list[list[list[float]]]:
    return [[[float(i), float(t)] for t in range(i + 1)] for i in rows.tolist()]


def states_of(inputs) -> list[list[list[float]]]:
    """Each example's states at its real length, from the padded batch of all of them."""
    batch = inputs.take(torch.arange(len(inputs)))
    return [s[m.bool()].tolist() for s, m in zip(batch["inputs_embeds"], batch["attention_mask"], strict=True)]


def test_each_set_of_rows_gets_its_states_at_real_length_and_a_rerun_encodes_only_new_rows(tmp_path, caplog):
    path, first, second = tmp_path / "states.pt", torch.tensor([7, 2, 5]), torch.tensor([0, 7])
    layers = FakeLayers()
    pool, tune = state_cache.cached_states(path, tokens(), [first, second], layers, 2, "test")
    assert states_of(pool) == expected(first) and states_of(tune) == expected(second)
    assert sorted(layers.encoded) == [0, 2, 5, 7]  # each row once

    more = FakeLayers()
    with caplog.at_level("INFO", logger=state_cache.__name__):
        (inputs,) = state_cache.cached_states(path, tokens(), [torch.tensor([9, 5, 1])], more, 2, "test")
        assert sorted(more.encoded) == [1, 9] and "encoding 2 examples of test" in caplog.text
        caplog.clear()
        state_cache.cached_states(path, tokens(), [torch.tensor([1, 2])], FakeLayers(interrupt_at=0), 2, "test")
    assert states_of(inputs) == expected(torch.tensor([9, 5, 1]))
    assert "reusing the cached hidden states of test (2 examples)" in caplog.text


def test_an_interrupted_encoding_keeps_what_it_saved(tmp_path, monkeypatch):
    monkeypatch.setattr(state_cache, "SAVE_EVERY_S", 0.0)  # a save after every batch
    path, rows = tmp_path / "states.pt", torch.arange(N)
    with pytest.raises(KeyboardInterrupt):
        state_cache.cached_states(path, tokens(), [rows], FakeLayers(interrupt_at=3), 2, "test")
    assert sorted(load_tensors(path)["rows"].tolist()) == [4, 5, 6, 7, 8, 9]  # 3 batches, longest first

    rerun = FakeLayers()
    (inputs,) = state_cache.cached_states(path, tokens(), [rows], rerun, 2, "test")
    assert sorted(rerun.encoded) == [0, 1, 2, 3] and states_of(inputs) == expected(rows)


def test_a_second_process_waits_for_the_one_encoding_the_file_and_reads_its_work(tmp_path):
    path, rows = tmp_path / "states.pt", torch.tensor([3, 8])
    waiting, done = FakeLayers(), []
    with exclusive(path):  # another process is encoding the file
        state_cache.cached_states(path.with_name("other.pt"), tokens(), [rows], FakeLayers(), 2, "x")  # not blocked
        reader = threading.Thread(
            target=lambda: done.append(state_cache.cached_states(path, tokens(), [rows], waiting, 2, "x"))
        )
        reader.start()
        reader.join(timeout=0.2)
        assert reader.is_alive() and not done  # it waits on the lock
        written = torch.tensor([state for example in expected(rows) for state in example])  # [4 + 9, 2]
        state_cache._append(path, None, [(rows, rows + 1, written)])  # what the other process saves
    reader.join(timeout=10)
    assert states_of(done[0][0]) == expected(rows) and waiting.encoded == []  # it read what the other wrote
