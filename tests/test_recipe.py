"""The training recipe: the reference L2 term per head, the learning-rate schedule, minibatches, subsets."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from epinet_al.active_learning.agent import lr_factor
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.sampling import draw_candidates, minibatches
from epinet_al.config import SubsetBudgetConfig
from epinet_al.experiment import run_experiment
from epinet_al.models import EnnModule
from epinet_al.networks.dropout import DropoutHead
from epinet_al.networks.enn import ENN
from epinet_al.networks.ensemble import EnsembleHead
from epinet_al.networks.epinet import EpinetHead
from epinet_al.networks.head import MLPHead
from tests.tiny_configs import TINY_COMMON, experiment_config

D, C = 4, 2


def epinet(prior: str = "mlp") -> EpinetHead:
    return EpinetHead(
        D,
        C,
        hidden=[3],
        index_dim=2,
        epinet_hidden=[3],
        include_hidden=False,
        prior=prior,
        prior_hidden=[2],
        prior_scale=1.0,
    )


HEADS = {
    "mlp": lambda: MLPHead(D, C, hidden=[3]),
    "dropout": lambda: DropoutHead(D, C, hidden=[3], dropout_rate=0.1),
    "ensemble": lambda: EnsembleHead(D, C, hidden=[3], ensemble_size=5),
    "epinet": epinet,
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mlp", math.sqrt(0.1) * D / 20),
        ("dropout", math.sqrt(0.1) * D / 20),
        ("ensemble", math.sqrt(0.1) * D / (5 * 20)),
        ("epinet", 0.2 * (D / 20) ** 0.7),
    ],
)
def test_reference_l2_formulas(name, expected):
    assert HEADS[name]().reference_l2(20, temperature=0.1) == pytest.approx(expected)


@pytest.mark.parametrize("prior", ["mlp", "ensemble"])
def test_l2_penalty_is_the_sum_of_squares_without_the_prior(prior):
    head = epinet(prior)
    by_hand = sum(
        float((p.detach() ** 2).sum()) for name, p in head.named_parameters() if not name.startswith("prior.")
    )
    assert any(name.startswith("prior.") for name, _ in head.named_parameters())
    assert float(head.l2_penalty().detach()) == pytest.approx(by_hand, rel=1e-6)


def test_training_loss_adds_the_weighted_l2_term():
    torch.manual_seed(0)
    head = MLPHead(D, C, hidden=[3])
    module = EnnModule(
        ENN(torch.nn.Identity(), head),
        optimizer=torch.optim.SGD,
        train_index_samples=1,
        l2_scale=2.0,
        temperature=0.25,
    )
    x, y = torch.randn(6, D), torch.tensor([0, 1, 1, 0, 1, 0])
    losses = module.training_step((x, y), num_labels=8)
    cross_entropy = F.cross_entropy(head.base(x), y)
    squares = sum((p**2).sum() for p in head.parameters())
    weight = 2.0 * math.sqrt(0.25) * D / 8
    assert module.l2_weight(8) == pytest.approx(weight)
    torch.testing.assert_close(losses["data_loss"], cross_entropy.detach())
    torch.testing.assert_close(losses["loss"], cross_entropy + weight * squares)
    assert EnnModule(ENN(torch.nn.Identity(), head), optimizer=torch.optim.SGD, train_index_samples=1).l2_weight(8) == 0


def test_ensemble_prior_is_the_sum_of_its_members():
    head = epinet("ensemble")
    x, z = torch.randn(7, D), torch.randn(3, 2)
    prior = head.prior
    members = []
    for d in range(2):
        out = x
        for layer, (w, b) in enumerate(zip(prior.weights, prior.biases, strict=True)):
            out = (torch.relu(out) if layer else out) @ w[d] + b[d]
        members.append(out)
    expected = torch.einsum("dbc,ad->abc", torch.stack(members), z)
    torch.testing.assert_close(prior(x, z), expected)


def test_linear_schedule_warms_up_then_decays_to_zero():
    factors = [lr_factor(step, 10, "linear", 0.2) for step in range(1, 11)]
    assert factors[:2] == [0.5, 1.0]
    assert factors[2] == pytest.approx(1.0) and factors[-1] == pytest.approx(1 / 8)
    assert all(a >= b for a, b in zip(factors[1:], factors[2:], strict=False))
    assert lr_factor(3, 10, "constant", 0.2) == 1.0


def test_fine_tuning_evaluates_every_anytime_point_at_the_rate_the_subset_fits_use():
    """Issue 24: BERT's schedule over the whole anytime run put a prioritized agent's points mid-schedule."""
    cfg = experiment_config(["task=sst2", "model=bert_base", "budget=glue"]).model
    assert cfg.lr_schedule == "constant"
    assert {lr_factor(step, 1100, cfg.lr_schedule, cfg.warmup_ratio) for step in (1, 11, 550, 1100)} == {1.0}


def test_minibatches_repeat_a_small_set_and_cover_each_epoch():
    batches = minibatches(3, 10, torch.Generator().manual_seed(0))
    first = next(batches)
    assert first.shape == (10,) and set(first.tolist()) == {0, 1, 2}
    rows = torch.cat([next(minibatches(7, 7, torch.Generator().manual_seed(1)))])
    assert sorted(rows.tolist()) == list(range(7))  # one batch of a full epoch is a permutation


def test_candidates_after_the_budget_keep_the_uncapped_share():
    ledger = LabelLedger(torch.zeros(1000, dtype=torch.long), budget=100)
    ledger.reveal(torch.arange(100))
    generator = torch.Generator().manual_seed(0)
    # 160 candidates from 1,000 would hold 16 of the 100 labeled: 16, at least the batch of 8.
    drawn = draw_candidates(1000, ledger, 160, 8, generator)
    assert drawn.shape == (16,) and bool(ledger.is_labeled[drawn].all())
    assert draw_candidates(1000, ledger, 160, 32, generator).shape == (32,)


def test_subset_sizes_from_fractions_or_sizes():
    assert SubsetBudgetConfig(fractions=[0.5, 0.1, 0.1]).subset_sizes(40) == [4, 20]
    assert SubsetBudgetConfig(sizes=[30, 5]).subset_sizes(40) == [5, 30]
    with pytest.raises(ValueError, match="subset size 50 is outside"):
        SubsetBudgetConfig(sizes=[50]).subset_sizes(40)


def test_subset_protocol_trains_each_size_from_scratch(tmp_path):
    common = [o for o in TINY_COMMON if not o.startswith("budget.")]
    overrides = [*common, "budget=subset", "budget.sizes=[5,10,20]", "budget.train_steps=6", "budget.batch_size=4"]
    summary = run_experiment(experiment_config(overrides), tmp_path / "a")
    curve = pd.read_csv(tmp_path / "a" / "curve.csv")
    assert curve["num_labels"].tolist() == [5, 10, 20] and curve["step"].tolist() == [6, 12, 18]
    assert summary["run"]["protocol"] == "subset"
    # Each point is a model trained from the initial weights with draws of its own: a size run alone, or after
    # other sizes, gives the same point (the epinet's training indices included: the default head).
    for sizes, name in (("[5]", "b"), ("[20]", "c"), ("[10,20]", "d")):
        run_experiment(experiment_config([*overrides[:-3], f"budget.sizes={sizes}", *overrides[-2:]]), tmp_path / name)
    points = {name: pd.read_csv(tmp_path / name / "curve.csv").set_index("num_labels")["test/nll"] for name in "bcd"}
    by_size = curve.set_index("num_labels")["test/nll"]
    assert points["b"][5] == by_size[5]
    assert points["c"][20] == points["d"][20] == by_size[20]
    assert points["d"][10] == by_size[10]


def test_final_diagnostics_flag_a_collapsed_model_and_an_inert_index():
    from epinet_al.experiment import final_diagnostics
    from epinet_al.tasks.task import ActiveLearningTask

    task = ActiveLearningTask("sst2", None, None, None, num_outputs=2, primary_metric="val/acc", metric_mode="max")
    stuck = {"val/majority_fraction": 1.0, "train/loss": math.log(2), "val/spread": 0.0}
    assert final_diagnostics(stuck, task) == {"one_class": True, "collapsed": True, "index_inert": True}
    learning = {"val/majority_fraction": 0.55, "train/loss": 0.3, "val/spread": 0.4}
    assert final_diagnostics(learning, task) == {"one_class": False, "collapsed": False, "index_inert": False}


def test_settings_digest_tells_settings_apart_but_not_seeds():
    from epinet_al.experiment import settings_digest

    base = {"seed": 0, "task": {"name": "testbed", "seed": 0}, "trainer": {"optimizer": {"lr": 0.001}}, "sweep": "a"}
    other_seed = {**base, "seed": 3, "task": {"name": "testbed", "seed": 3}, "sweep": "b"}
    other_lr = {**base, "trainer": {"optimizer": {"lr": 0.01}}}
    assert settings_digest(base) == settings_digest(other_seed)
    assert settings_digest(base) != settings_digest(other_lr)
