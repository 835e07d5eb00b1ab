"""Frozen sentence-pair features: model.pair_encoding=separate gives the head [u, v, |u - v|, u * v]."""

from __future__ import annotations

import pytest
import torch

import epinet_al.tasks.glue_inputs as glue_inputs
from epinet_al.tasks.build import build_task
from tests.glue.tiny_glue import N_DEV, N_TRAIN
from tests.tiny_configs import experiment_config

H = 32  # the tiny encoder's hidden size
SEPARATE = ("model.finetune=frozen", "model.pair_encoding=separate")


def build(cfg):
    return build_task(cfg.task, cfg.eval, cfg.model, torch.device("cpu"))


def test_separate_pairs_give_four_times_the_encoder_width(glue_config):
    task = build(glue_config("rte", *SEPARATE))
    assert task.pool.data.shape == (N_TRAIN, 4 * H)
    assert task.evaluator.splits[0].inputs.data.shape == (N_DEV, 4 * H)
    joint = build(glue_config("rte", "model.finetune=frozen", "model.pair_encoding=joint"))
    assert joint.pool.data.shape == (N_TRAIN, H)


def test_single_sentence_tasks_ignore_the_pair_encoding(glue_config):
    assert build(glue_config("sst2", *SEPARATE)).pool.data.shape == (N_TRAIN, H)
    build(glue_config("sst2", "model.finetune=full", "model.pair_encoding=separate"))  # no pairs, no refusal


def test_each_side_is_cached_and_a_second_build_never_loads_the_encoder(glue_config, monkeypatch, tmp_path):
    cfg = glue_config("rte", *SEPARATE)
    first = build(cfg)
    names = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "cache" / "features").iterdir())
    assert names == [f"rte-{split}-{side}-tiny-cls" for split in ("dev", "train") for side in "ab"]

    def no_encoder(cfg):
        raise AssertionError("the encoder was loaded although every feature is cached")

    monkeypatch.setattr(glue_inputs, "build_encoder_body", no_encoder)
    second = build(cfg)
    assert torch.equal(first.pool.data, second.pool.data)


def test_swapping_the_sentences_swaps_u_and_v_and_keeps_the_symmetric_parts(glue_config, glue_dir, tmp_path):
    swapped_dir = tmp_path / "swapped"
    (swapped_dir / "RTE").mkdir(parents=True)
    for split in ("train", "dev"):  # the same header; each row's sentence1 and sentence2 trade places
        header, *lines = (glue_dir / "RTE" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        cells = [line.split("\t") for line in lines]
        swapped = [header] + ["\t".join([c[0], c[2], c[1], c[3]]) for c in cells]
        (swapped_dir / "RTE" / f"{split}.tsv").write_text("\n".join(swapped) + "\n", encoding="utf-8")
    original = build(glue_config("rte", *SEPARATE)).pool.data
    mirrored = build(glue_config("rte", *SEPARATE, f"task.data_dir={swapped_dir}")).pool.data
    u, v, distance, product = original.split(H, dim=-1)
    u_swapped, v_swapped, distance_swapped, product_swapped = mirrored.split(H, dim=-1)
    assert not torch.allclose(u, v)  # the two sentences differ, so the test can tell them apart
    torch.testing.assert_close(u_swapped, v)
    torch.testing.assert_close(v_swapped, u)
    torch.testing.assert_close(distance_swapped, distance)
    torch.testing.assert_close(product_swapped, product)
    torch.testing.assert_close(distance, (u - v).abs())
    torch.testing.assert_close(product, u * v)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.pair_encoding=both"], r"unknown model.pair_encoding 'both'; valid choices: joint, separate"),
        (
            ["model.pair_encoding=separate", "model.finetune=full"],
            r"model.pair_encoding='separate' needs model.finetune=frozen",
        ),
    ],
)
def test_bad_pair_encodings_are_refused_before_any_data_is_read(glue_config, tmp_path, overrides, message):
    # The data folder does not exist: the check comes first.
    with pytest.raises(ValueError, match=message):
        build(glue_config("rte", *overrides, f"task.data_dir={tmp_path / 'nowhere'}"))


def test_minilm_encodes_pairs_separately_and_the_others_jointly():
    assert experiment_config(["task=rte", "model=minilm"]).model.pair_encoding == "separate"
    for model in ("tiny", "bert_base"):
        assert experiment_config(["task=rte", f"model={model}"]).model.pair_encoding == "joint"
