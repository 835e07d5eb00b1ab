"""Building GLUE tasks: data sources and their errors, splits, caps, the frozen-feature cache, evaluation."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

import epinet_al.tasks.glue_inputs as glue_inputs
from epinet_al.acquisition.priorities import get_priority, output_variance
from epinet_al.data.glue_files import GlueFormatError
from epinet_al.data.inputs import TensorInputs
from epinet_al.data.text_inputs import TokenizedInputs
from epinet_al.models import EnnModule
from epinet_al.networks.enn import ENN
from epinet_al.networks.head import Head
from epinet_al.registry import HeadSpec
from epinet_al.tasks.build import build_task
from epinet_al.tasks.glue_splits import split_seed
from tests.glue.tiny_glue import N_DEV, N_TRAIN
from tests.glue_fixtures import write_glue_fixture
from tests.tiny_configs import experiment_config


def build(cfg):
    return build_task(cfg.task, cfg.eval, cfg.model, torch.device("cpu"))


@pytest.fixture
def encoder_passes(monkeypatch):
    """Counts the examples the frozen encoder encodes (each list entry is one batch's size)."""
    sizes: list[int] = []
    real = glue_inputs.build_encoder_body

    def counting(cfg):
        body = real(cfg)
        forward = body.forward
        body.forward = lambda inputs: sizes.append(inputs["input_ids"].shape[0]) or forward(inputs)
        return body

    monkeypatch.setattr(glue_inputs, "build_encoder_body", counting)
    return sizes


# ---------------------------------------------------------------- sources and splits


def test_frozen_task_holds_features_and_full_task_holds_tokens(glue_config):
    frozen = build(glue_config("rte", "model.finetune=frozen"))
    assert isinstance(frozen.pool, TensorInputs) and frozen.pool.data.shape == (N_TRAIN, 32)
    full = build(glue_config("rte", "model.finetune=full"))
    assert isinstance(full.pool, TokenizedInputs) and len(full.pool) == N_TRAIN
    for task in (frozen, full):
        assert task.pool_labels.tolist() == [i % 2 for i in range(N_TRAIN)]
        assert task.num_outputs == 2 and task.primary_metric == "val/acc" and not task.regression


def test_stsb_is_a_regression_task_with_float_labels(glue_config):
    task = build(glue_config("stsb", "model.finetune=frozen"))
    assert task.regression and task.num_outputs == 1
    assert task.pool_labels.dtype == torch.float32
    assert task.primary_metric == "val/pearson" and task.metric_mode == "max"


def test_local_source_without_a_folder_names_the_variable_and_the_key(glue_config, monkeypatch):
    monkeypatch.delenv("GLUE_DIR", raising=False)
    cfg = experiment_config(["task=sst2", "model=tiny"])
    assert cfg.task.data_dir is None
    with pytest.raises(ValueError, match="GLUE_DIR.*task.data_dir"):
        build(cfg)


def test_data_dir_defaults_to_the_glue_dir_variable(glue_dir, monkeypatch):
    monkeypatch.setenv("GLUE_DIR", str(glue_dir))
    assert experiment_config(["task=sst2", "model=tiny"]).task.data_dir == str(glue_dir)


def test_a_data_dir_that_does_not_exist_is_refused(glue_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="task.data_dir=.*GLUE_DIR.*not a folder"):
        build(glue_config("sst2", f"task.data_dir={tmp_path / 'nowhere'}"))


def test_malformed_file_error_names_file_and_line(glue_config, tmp_path):
    write_glue_fixture(tmp_path / "bad", "RTE", malformed="bad_label", malformed_split="train", malformed_row=2)
    with pytest.raises(GlueFormatError, match=r"RTE/train.tsv:4: label 'maybe'"):
        build(glue_config("rte", f"task.data_dir={tmp_path / 'bad'}"))


def test_mnli_missing_dev_files_point_to_the_supplementary_splits(glue_config, tmp_path):
    fixture = write_glue_fixture(tmp_path / "mnli", "MNLI", supplementary=True)
    fixture.files["dev_matched"].unlink()
    with pytest.raises(GlueFormatError, match=r"dev_matched.tsv.*task.eval_splits=\[supplementary_dev_matched"):
        build(glue_config("mnli", f"task.data_dir={tmp_path / 'mnli'}"))


@pytest.mark.parametrize(("task", "folder", "split"), [("mnli", "MNLI", "dev_mismatched"), ("qqp", "QQP", "dev")])
def test_a_missing_evaluation_file_is_found_before_anything_is_encoded(
    glue_config, tmp_path, monkeypatch, task, folder, split
):
    # Before: MNLI's error came after 57 s of encoding its train split, QQP's after 42 s (D13).
    fixture = write_glue_fixture(tmp_path / task, folder, supplementary=task == "mnli")
    fixture.files[split].unlink()
    monkeypatch.setattr(glue_inputs, "load_tokenizer", lambda cfg: pytest.fail("the tokenizer was loaded first"))
    with pytest.raises(GlueFormatError, match=rf"{split}.tsv: missing file"):
        build(glue_config(task, f"task.data_dir={tmp_path / task}"))


def test_the_pool_size_after_caps_and_tune_split_is_checked_before_anything_is_encoded(glue_config, monkeypatch):
    monkeypatch.setattr(glue_inputs, "load_tokenizer", lambda cfg: pytest.fail("the tokenizer was loaded first"))
    cfg = glue_config("rte", "task.max_pool_size=20", "task.tune_size=5")
    sizes = []

    def check_pool(size):
        sizes.append(size)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        build_task(cfg.task, cfg.eval, cfg.model, torch.device("cpu"), check_pool=check_pool)
    assert sizes == [15]


def test_split_seeds_are_pinned():
    # The rows every cached run and curve was drawn with: a change here redraws every capped pool and tune split.
    assert (split_seed(0, "train"), split_seed(7, "tune")) == (1550685491, 3206827499)


def test_the_task_names_the_files_it_read_by_their_fingerprint(glue_config, glue_dir):
    task = build(glue_config("rte", "model.finetune=frozen"))
    assert task.data_files == {
        split: "sha256:" + hashlib.sha256((glue_dir / "RTE" / f"{split}.tsv").read_bytes()).hexdigest()
        for split in ("train", "dev")
    }


def test_mnli_reports_matched_and_mismatched_from_the_supplementary_files(glue_config):
    cfg = glue_config(
        "mnli", "model.finetune=frozen", "task.eval_splits=[supplementary_dev_matched,supplementary_dev_mismatched]"
    )
    task = build(cfg)
    assert task.primary_metric == "val_matched/acc"
    metrics = task.evaluator(lambda features: torch.zeros(3, features.shape[0], 3))
    names = ("acc", "nll", "joint_nll", "spread", "spread_cv", "spearman_var_ent", "ece", "majority_fraction")
    assert set(metrics) == {f"{s}/{m}" for s in ("val_matched", "val_mismatched") for m in names}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task.pool_split=test"], "unknown split 'test'.*valid splits: train, dev"),
        (["task.eval_splits=[dev,dev]"], "report under the same names"),
        (["task.eval_splits=[train]"], "also in task.eval_splits"),
        (["task.source=web"], "unknown task.source 'web'.*local, hub"),
        (["model.finetune=partial"], "unknown model.finetune 'partial'.*full, top, frozen"),
        (["task.max_pool_size=-1"], r"task.max_pool_size must be >= 0 \(0: the whole split\)"),
        (["task.tune_size=-1"], r"task.tune_size must be >= 0 \(0: no tune split\)"),
        ([f"task.tune_size={N_TRAIN}"], f"task.tune_size={N_TRAIN} leaves no pool"),
    ],
)
def test_invalid_task_settings_are_refused(glue_config, overrides, message):
    with pytest.raises(ValueError, match=message):
        build(glue_config("rte", *overrides))


def test_supplementary_splits_are_local_only(glue_config):
    with pytest.raises(ValueError, match="unknown split 'supplementary_dev_matched'.*from source hub"):
        build(glue_config("mnli", "task.source=hub", "task.eval_splits=[supplementary_dev_matched]"))


# ---------------------------------------------------------------- caps


@pytest.mark.slow
def test_caps_draw_a_seeded_random_subset(glue_config):
    def pool_rows(*overrides):
        task = build(glue_config("sst2", "model.finetune=full", "task.max_pool_size=5", *overrides))
        assert len(task.pool) == 5
        return task.pool.ids.tolist()

    assert len(build(glue_config("sst2", "task.max_eval_size=3")).evaluator.splits[0].labels) == 3

    assert pool_rows() == pool_rows()
    assert pool_rows() != pool_rows("seed=1")  # task.seed follows the run's seed
    assert pool_rows() == pool_rows("task.max_eval_size=4")  # each split draws from its own stream


@pytest.mark.slow
def test_tune_split_is_carved_out_of_the_pool_and_evaluated(glue_config):
    def tune_task(*overrides):
        return build(glue_config("sst2", "model.finetune=frozen", "task.tune_size=4", *overrides))

    task = tune_task()
    whole = build(glue_config("sst2", "model.finetune=frozen"))
    tune = task.evaluator.splits[-1]
    assert tune.name == "tune" and len(tune.labels) == 4 and len(task.pool) == N_TRAIN - 4
    # The tune rows and the pool rows are disjoint and together the whole pool split.
    rows = torch.cat([task.pool.data, tune.inputs.data])
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, whole.pool.data.tolist()))
    assert task.primary_metric == "val/acc"  # dev stays the reported split
    metrics = task.evaluator(lambda features: torch.zeros(1, features.shape[0], 2))
    assert {"val/acc", "tune/acc", "tune/nll"} <= set(metrics)
    assert torch.equal(tune_task().pool.data, task.pool.data)
    assert not torch.equal(tune_task("seed=1").pool.data, task.pool.data)  # drawn with task.seed


# ---------------------------------------------------------------- the frozen-feature cache


def test_features_are_computed_once_and_reused(glue_config, encoder_passes):
    cfg = glue_config("rte", "model.finetune=frozen")
    first = build(cfg)
    assert sum(encoder_passes) == N_TRAIN + N_DEV
    second = build(cfg)
    assert sum(encoder_passes) == N_TRAIN + N_DEV  # the second build never ran the encoder
    assert torch.equal(first.pool.data, second.pool.data)


def test_features_match_the_encoder_run_directly(glue_config):
    cfg = glue_config("rte", "model.finetune=frozen")
    task = build(cfg)
    tokens = build(glue_config("rte", "model.finetune=full")).pool
    body = glue_inputs.build_encoder_body(cfg.model).eval()
    with torch.no_grad():
        expected = body(tokens.take(torch.arange(3)))
    torch.testing.assert_close(task.pool.take(torch.arange(3)), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "change",
    [
        "model.max_length=16",
        "task.max_length=16",
        "model.init_seed=1",
        "model.pooling=mean",
        "model.config_overrides.num_hidden_layers=1",
    ],
)
def test_a_changed_encoder_or_max_length_invalidates_the_features(glue_config, encoder_passes, change):
    build(glue_config("rte", "model.finetune=frozen"))
    before = sum(encoder_passes)
    build(glue_config("rte", "model.finetune=frozen", change))
    assert sum(encoder_passes) == 2 * before


def test_a_capped_run_encodes_its_rows_and_a_later_run_only_the_rest(glue_config, encoder_passes):
    build(glue_config("rte", "model.finetune=frozen", "task.max_pool_size=10"))
    assert sum(encoder_passes) == 10 + N_DEV
    build(glue_config("rte", "model.finetune=frozen"))
    assert sum(encoder_passes) == N_TRAIN + N_DEV


# ---------------------------------------------------------------- evaluation and regression priorities


def test_evaluator_uses_the_mean_softmax_over_index_samples(glue_config):
    task = build(glue_config("rte", "model.finetune=frozen"))
    labels = task.evaluator.splits[0].labels

    def predict(features):  # two samples: one confident in each class; their mean is 50/50
        confident = torch.tensor([[9.0, -9.0]]).expand(features.shape[0], 2)
        return torch.stack([confident, -confident])

    metrics = task.evaluator(predict)
    assert metrics["val/nll"] == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=1e-6)
    assert len(labels) == N_DEV


def test_regression_evaluation_uses_the_mean_prediction(glue_config):
    task = build(glue_config("stsb", "model.finetune=frozen"))
    split = task.evaluator.splits[0]
    truth = torch.zeros(len(split.labels))
    truth[torch.cat(split.batches)] = split.labels  # the labels in the order the batches run
    offsets = iter([0])

    def predict(features):  # samples at truth -1 and truth +1: the mean is exact
        start = next(offsets)
        target = split.labels[start : start + features.shape[0]]
        return torch.stack([target - 1, target + 1]).unsqueeze(-1)

    metrics = task.evaluator(predict)
    assert metrics["val/pearson"] == pytest.approx(1.0) and metrics["val/spearman"] == pytest.approx(1.0)


def test_variance_priority_on_regression_outputs_is_the_variance_over_samples():
    outputs = torch.tensor([[[1.0], [0.0]], [[3.0], [0.0]]])  # [A=2, B=2, 1]
    assert get_priority("variance", regression=True) is output_variance
    assert output_variance(outputs).tolist() == [1.0, 0.0]
    assert get_priority("uniform", regression=True)(outputs, generator=torch.Generator()).shape == (2,)


class FixedOutputs(Head):
    """Outputs [A, B, 1] = features + index: a known prediction per index sample."""

    spec = HeadSpec("fixed_outputs", object, build="", has_index=True)  # no registered head: its capabilities

    def sample_index(self, num, generator=None):
        return torch.arange(num, dtype=torch.float32)

    def forward(self, features, index):
        return (features[:, :1].unsqueeze(0) + index[:, None, None]).requires_grad_()


def test_regression_loss_is_the_squared_error_averaged_over_index_samples():
    module = EnnModule(
        ENN(nn.Identity(), FixedOutputs()), optimizer=torch.optim.Adam, train_index_samples=2, regression=True
    )
    features, targets = torch.tensor([[1.0], [2.0]]), torch.tensor([1.0, 4.0])
    # Sample 0 predicts (1, 2), sample 1 predicts (2, 3): squared errors (0, 4) and (1, 1).
    assert module.training_step((features, targets))["loss"].item() == pytest.approx((0 + 4 + 1 + 1) / 4)


def test_standardized_features_use_the_pool_statistics(glue_config):
    plain = build(glue_config("sst2", "model.finetune=frozen", "task.tune_size=4"))
    scaled = build(glue_config("sst2", "model.finetune=frozen", "task.tune_size=4", "model.standardize=true"))
    mean, sd = plain.pool.data.mean(0), plain.pool.data.std(0)
    torch.testing.assert_close(scaled.pool.data, (plain.pool.data - mean) / sd)
    for before, after in zip(plain.evaluator.splits, scaled.evaluator.splits, strict=True):
        torch.testing.assert_close(after.inputs.data, (before.inputs.data - mean) / sd)
