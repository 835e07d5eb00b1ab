"""The MC-dropout and ensemble heads: shapes, batch-shared randomness, members, gradients, end to end."""

from __future__ import annotations

import json

import pytest
import torch

from epinet_al.acquisition.priorities import get_priority
from epinet_al.acquisition.specs import PRIORITY_SPECS
from epinet_al.experiment import run_experiment
from epinet_al.models import EnnModule
from epinet_al.networks.build import build_head
from epinet_al.networks.dropout import DropoutHead
from epinet_al.networks.enn import ENN
from epinet_al.networks.ensemble import EnsembleHead
from epinet_al.networks.mlp import MLP
from epinet_al.networks.specs import HEADS
from tests.spec_contexts import head_context
from tests.tiny_configs import TINY, experiment_config

pytestmark = pytest.mark.usefixtures("single_thread")

FEATURES, CLASSES, BATCH = 6, 3, 5


def features(seed: int = 0, batch: int = BATCH) -> torch.Tensor:
    return torch.randn(batch, FEATURES, generator=torch.Generator().manual_seed(seed))


def dropout_head(rate: float = 0.1, hidden: tuple[int, ...] = (8, 7)) -> DropoutHead:
    torch.manual_seed(0)
    return DropoutHead(FEATURES, CLASSES, hidden=hidden, dropout_rate=rate)


def ensemble_head(size: int = 4) -> EnsembleHead:
    torch.manual_seed(0)
    return EnsembleHead(FEATURES, CLASSES, hidden=(8, 7), ensemble_size=size)


def member_mlp(head: EnsembleHead, member: int) -> MLP:
    """Member ``member`` of the ensemble as an ordinary MLP."""
    mlp = MLP(FEATURES, (8, 7), CLASSES)
    with torch.no_grad():
        for layer, weight, bias in zip([*mlp.hidden_layers, mlp.output_layer], head.weights, head.biases, strict=True):
            layer.weight.copy_(weight[member].T)
            layer.bias.copy_(bias[member])
    return mlp


# ---------------------------------------------------------------- shapes and index draws


@pytest.mark.parametrize("make", [dropout_head, ensemble_head])
def test_logits_have_shape_index_by_batch_by_classes(make):
    head = make()
    index = head.sample_index(9, generator=torch.Generator().manual_seed(0))
    assert head.has_index
    assert head(features(), index).shape == (9, BATCH, CLASSES)


def test_dropout_index_is_one_keep_mask_per_sample():
    index = dropout_head().sample_index(4, generator=torch.Generator().manual_seed(0))
    assert index.shape == (4, 8 + 7)
    assert index.dtype == torch.float32
    assert set(index.unique().tolist()) <= {0.0, 1.0}


def test_dropout_masks_drop_units_at_the_configured_rate():
    masks = dropout_head(rate=0.1).sample_index(4000, generator=torch.Generator().manual_seed(0))
    assert (1 - masks.mean()).item() == pytest.approx(0.1, abs=0.005)  # 60000 units: std 0.0012


def test_ensemble_ids_are_uniform_rounds_of_all_members():
    head = ensemble_head(size=4)
    gen = torch.Generator().manual_seed(0)
    assert sorted(head.sample_index(4, generator=gen).tolist()) == [0, 1, 2, 3]  # A = M: each member once
    counts = torch.bincount(head.sample_index(10, generator=gen), minlength=4)
    assert sorted(counts.tolist()) == [2, 2, 3, 3]
    assert head.sample_index(3, generator=gen).unique().numel() == 3  # A < M: distinct members
    first = head.sample_index(7, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first, head.sample_index(7, generator=torch.Generator().manual_seed(5)))


def test_bad_head_settings_are_refused():
    with pytest.raises(ValueError, match="dropout_rate"):
        dropout_head(rate=1.0)
    with pytest.raises(ValueError, match="hidden layer"):
        dropout_head(hidden=())
    with pytest.raises(ValueError, match="ensemble_size"):
        ensemble_head(size=0)
    with pytest.raises(ValueError, match="member ids"):
        ensemble_head()(features(), torch.zeros(2, 3))


# ---------------------------------------------------------------- batch-shared randomness


@pytest.mark.parametrize("make", [dropout_head, ensemble_head])
def test_each_index_acts_on_every_row_alike(make):
    """One mask or member per index sample for the whole batch: row b alone gives the same logits."""
    head = make()
    x = features()
    index = head.sample_index(6, generator=torch.Generator().manual_seed(1))
    batch_logits = head(x, index)
    for row in range(BATCH):
        torch.testing.assert_close(head(x[row : row + 1], index)[:, 0], batch_logits[:, row])


@pytest.mark.parametrize("make", [dropout_head, ensemble_head])
def test_identical_rows_agree_within_a_sample_and_differ_across_samples(make):
    head = make()
    x = features(batch=1).expand(4, -1)
    logits = head(x, head.sample_index(8, generator=torch.Generator().manual_seed(2)))
    torch.testing.assert_close(logits, logits[:, :1].expand_as(logits))  # no per-example randomness
    assert logits[:, 0].std(0).max() > 1e-3  # but the index samples disagree


# ---------------------------------------------------------------- the right weights


def test_dropout_logits_are_the_masked_mlp():
    head = dropout_head(rate=0.25)
    x = features()
    mask = head.sample_index(1, generator=torch.Generator().manual_seed(3))[0]
    keep1, keep2 = mask[:8] / 0.75, mask[8:] / 0.75
    layer1, layer2 = head.base.hidden_layers
    expected = head.base.output_layer(torch.relu(layer2(torch.relu(layer1(x)) * keep1)) * keep2)
    torch.testing.assert_close(head(x, mask[None])[0], expected)


def test_dropout_with_rate_zero_is_the_plain_mlp():
    head = dropout_head(rate=0.0)
    logits = head(features(), head.sample_index(3))
    torch.testing.assert_close(logits, head.base(features()).expand(3, -1, -1))


def test_ensemble_member_id_selects_that_members_own_mlp():
    head = ensemble_head(size=4)
    x = features()
    logits = head(x, torch.tensor([3, 1, 3, 0]))
    for row, member in enumerate([3, 1, 3, 0]):
        torch.testing.assert_close(logits[row], member_mlp(head, member)(x))
    assert not torch.allclose(logits[0], logits[1])  # members are initialised independently


# ---------------------------------------------------------------- gradients


def test_dropout_gradient_skips_dropped_units():
    head = dropout_head(rate=0.5)
    mask = head.sample_index(1, generator=torch.Generator().manual_seed(4))
    head(features(), mask).sum().backward()
    dropped1, dropped2 = mask[0, :8] == 0, mask[0, 8:] == 0
    assert dropped1.any() and dropped2.any()
    layer1, layer2 = head.base.hidden_layers
    assert torch.all(layer1.weight.grad[dropped1] == 0)
    assert torch.all(layer2.weight.grad[dropped2] == 0)
    assert torch.all(head.base.output_layer.weight.grad[:, dropped2] == 0)
    assert head.base.output_layer.weight.grad[:, ~dropped2].abs().sum() > 0


def test_ensemble_gradient_reaches_only_the_members_used():
    head = ensemble_head(size=4)
    labels = torch.tensor([0, 1, 2, 0, 1])
    logits = head(features(), torch.tensor([2, 0, 2]))
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.repeat(3)).backward()
    for param in [*head.weights, *head.biases]:
        norms = param.grad.flatten(1).norm(dim=1)
        assert torch.all(norms[[1, 3]] == 0)
    assert torch.all(head.biases[-1].grad[[0, 2]].norm(dim=1) > 0)


@pytest.mark.parametrize("name", ["dropout", "ensemble"])
def test_one_training_step_uses_the_configured_index_samples(name):
    cfg = experiment_config([f"head={name}"])
    torch.manual_seed(0)
    head = build_head(cfg.head, FEATURES, CLASSES)
    module = EnnModule(
        ENN(torch.nn.Identity(), head),
        optimizer=torch.optim.SGD,
        train_index_samples=cfg.head.train_index_samples,
        index_generator=torch.Generator().manual_seed(0),
    )
    module.training_step((features(), torch.tensor([0, 1, 2, 0, 1])))["loss"].backward()
    if name == "dropout":
        assert cfg.head.train_index_samples == 1  # ordinary dropout training: one mask per step
    else:
        assert cfg.head.train_index_samples == cfg.head.ensemble_size == 10
        for param in [*head.weights, *head.biases]:  # every member learns from every batch
            assert torch.all(param.grad.flatten(1).norm(dim=1) > 0)


# ---------------------------------------------------------------- with the rest of the framework


@pytest.mark.parametrize("head_name", sorted(HEADS))
def test_every_priority_runs_with_every_head(head_name):
    torch.manual_seed(0)
    head = build_head(experiment_config([f"head={head_name}", *head_context(head_name)]).head, FEATURES, CLASSES)
    index = head.sample_index(10, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = head(features(), index)
        targets = {"target_logits": head(features(seed=1, batch=4), index)}
    for spec in PRIORITY_SPECS.specs():
        priority = get_priority(spec.name)
        scores = priority(logits, generator=torch.Generator(), **(targets if spec.needs_targets else {}))
        assert scores.shape == (BATCH,) and torch.isfinite(scores).all(), spec.name
        if spec.needs_index:
            assert (scores >= 0).all() and (scores.max() > 0) == HEADS.get(head_name).has_index, spec.name


@pytest.mark.parametrize("protocol", ["prioritized", "pool"])
@pytest.mark.parametrize("head_name", ["dropout", "ensemble"])
def test_head_runs_end_to_end_on_the_testbed(tmp_path, head_name, protocol):
    cfg = experiment_config([*TINY[protocol], f"head={head_name}", "acquisition=variance"])
    summary = run_experiment(cfg, tmp_path)
    assert summary["run"]["head"] == head_name
    assert summary["run"]["protocol"] == protocol
    assert summary["final"]["num_labels"] == 20
    assert json.loads((tmp_path / "summary.json").read_text())["final"]["test/nll"] > 0
