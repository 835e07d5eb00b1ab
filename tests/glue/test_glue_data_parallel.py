"""Data parallel on the tiny random BERT, fully fine-tuned: two processes label and learn as one.

The tolerance is that of tests/test_distributed.py: the same labels exactly, the curve up to float rounding.
Without the encoder's dropout: with it, each rank draws the masks of its share of a batch from its own
stream, so two processes train like one in distribution, not number for number.
"""

from __future__ import annotations

import os

import pytest

import epinet_al.data.state_cache as state_cache
from epinet_al.experiment import run_experiment
from tests.test_distributed import assert_same_curve, ledger_order


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["prioritized", "pool"])
def test_two_processes_fine_tune_as_one(glue_config, tmp_path, protocol):
    # Batches of 3 candidates: the ranks share the forward batches of every scoring call.
    overrides = ["model.finetune=full", "model.dropout_rate=0.0", "keep_state=true", "budget.score_batch_size=3"]
    run_experiment(glue_config("sst2", *overrides, protocol=protocol), tmp_path / "one")
    two = glue_config("sst2", *overrides, "trainer.devices=2", "trainer.strategy=ddp_fork", protocol=protocol)
    run_experiment(two, tmp_path / "two")
    assert ledger_order(tmp_path / "two") == ledger_order(tmp_path / "one")
    assert_same_curve(tmp_path / "two", tmp_path / "one")


@pytest.mark.slow
def test_two_processes_fine_tune_the_top_layers_as_one_and_encode_them_once(glue_config, tmp_path, monkeypatch):
    encodings = tmp_path / "encodings.txt"
    encode = state_cache._encode

    def recorded(path, *args):  # the forked ranks inherit the patch; each appends what it encodes
        with encodings.open("a") as record:
            record.write(f"{os.getpid()} {path.name}\n")
        return encode(path, *args)

    monkeypatch.setattr(state_cache, "_encode", recorded)
    overrides = [
        "model.finetune=top", "model.trainable_layers=1", "model.dropout_rate=0.0", "keep_state=true",
        "budget.score_batch_size=3",
    ]  # fmt: skip
    run_experiment(glue_config("sst2", *overrides, "trainer.devices=2", "trainer.strategy=ddp_fork"), tmp_path / "two")
    processes, files = zip(*(line.split() for line in encodings.read_text().splitlines()), strict=True)
    assert len(set(processes)) == 1 and sorted(files) == sorted(set(files)) and len(files) == 2  # train, dev: once
    run_experiment(glue_config("sst2", *overrides), tmp_path / "one")  # reads the caches the two ranks used
    assert ledger_order(tmp_path / "two") == ledger_order(tmp_path / "one")
    assert_same_curve(tmp_path / "two", tmp_path / "one")
