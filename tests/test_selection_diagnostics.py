"""The selection diagnostics (active_learning/diagnostics.py) and the fixed index sets, on hand-built cases."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from lightning_fabric import Fabric

from epinet_al.acquisition.priorities import get_priority
from epinet_al.active_learning.agent import Agent
from epinet_al.active_learning.diagnostics import SelectionDiagnostics
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.data.inputs import TensorInputs
from epinet_al.models import EnnModule
from epinet_al.networks.enn import ENN
from epinet_al.networks.ensemble import EnsembleHead
from epinet_al.networks.epinet import EpinetHead
from epinet_al.networks.head import MLPHead
from epinet_al.uncertainty import spread_ratio, top_overlap

SIZES = SimpleNamespace(seen_inputs=64, overlap_candidates=20, overlap_top=5, far_shift=0.0)


def test_top_overlap_by_hand():
    a = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    assert top_overlap(a, a, 2) == 1.0
    assert top_overlap(a, -a, 2) == 0.0
    assert top_overlap(a, torch.tensor([5.0, 0.0, 3.0, 2.0, 1.0]), 2) == 0.5  # {0, 1} against {0, 2}
    assert top_overlap(torch.zeros(5), torch.zeros(5), 2) == 1.0  # ties: the first candidates, in order
    with pytest.raises(ValueError, match="0 < top <= N"):
        top_overlap(a, a, 6)


def test_spread_ratio_is_nan_without_a_spread_to_compare():
    assert spread_ratio(0.5, 1.0) == 0.5
    assert math.isnan(spread_ratio(0.5, 0.0))  # a plain head: no spread anywhere
    assert math.isnan(spread_ratio(math.nan, 1.0))  # no labeled inputs yet


def make_agent(head: torch.nn.Module, *, fixed_index: bool = False, samples: int = 10) -> Agent:
    module = EnnModule(
        ENN(torch.nn.Identity(), head),
        optimizer=lambda params: torch.optim.Adam(params, lr=0.05),
        train_index_samples=getattr(head, "ensemble_size", 1),
        index_generator=torch.Generator().manual_seed(1),
    )
    return Agent(
        Fabric(accelerator="cpu", devices=1),
        module,
        module.configure_optimizers(),
        num_index_samples=samples,
        eval_index_samples=samples,
        eval_generator=torch.Generator().manual_seed(2),
        fixed_index=fixed_index,
        score_generator=torch.Generator().manual_seed(3),
    )


def diagnostics(
    agent: Agent, pool: TensorInputs, priority: str = "variance", samples: int = 10, **sizes
) -> SelectionDiagnostics:
    return SelectionDiagnostics(
        agent,
        pool,
        eval_cfg=SimpleNamespace(**{**vars(SIZES), **sizes}),
        priority=get_priority(priority),
        needs_targets=False,
        num_targets=0,
        num_index_samples=samples,
        regression=False,
        batch_size=1024,
        generator=torch.Generator().manual_seed(4),
    )


def epinet_head() -> EpinetHead:
    return EpinetHead(
        2,
        2,
        hidden=[8],
        index_dim=4,
        epinet_hidden=[8],
        include_hidden=False,
        prior="mlp",
        prior_hidden=[8],
        prior_scale=1.0,
    )


def near_and_far_pool() -> tuple[TensorInputs, LabelLedger]:
    """Four labeled inputs near the origin and 60 unlabeled ones ten times as far, in 2-d."""
    generator = torch.Generator().manual_seed(0)
    near = torch.randn(4, 2, generator=generator) * 0.5
    far = torch.nn.functional.normalize(torch.randn(60, 2, generator=generator), dim=1) * 10
    ledger = LabelLedger(torch.cat([torch.tensor([0, 1, 0, 1]), torch.zeros(60, dtype=torch.long)]), budget=4)
    ledger.reveal(torch.arange(4))
    return TensorInputs(torch.cat([near, far])), ledger


def test_an_ensemble_fitted_to_a_few_points_is_more_certain_there_than_far_from_them():
    torch.manual_seed(0)
    agent = make_agent(EnsembleHead(2, 2, hidden=[16], ensemble_size=10))
    pool, ledger = near_and_far_pool()
    for step in range(100):
        agent.train((pool.data[:4], ledger.reveal(torch.arange(4))), step=step, num_labels=4)
    values = diagnostics(agent, pool)(ledger, {})
    assert values["pool/spread_seen"] > 0
    assert values["pool/seen_unseen"] < 0.5
    assert values["pool/seen_unseen"] == pytest.approx(values["pool/spread_seen"] / values["pool/spread_unseen"])
    assert values["pool/priority_seen_unseen"] < 0.5  # variance, in probabilities, knows it too


def test_a_plain_head_has_no_spread_to_compare_and_selects_as_entropy_does():
    torch.manual_seed(0)
    pool, ledger = near_and_far_pool()
    values = diagnostics(make_agent(MLPHead(2, 2, hidden=[8])), pool, priority="entropy")(ledger, {"val/spread": 0.0})
    assert values["pool/spread_seen"] == values["pool/spread_unseen"] == 0.0
    assert math.isnan(values["pool/seen_unseen"])
    assert values["pool/overlap_entropy"] == values["pool/overlap_index"] == 1.0
    assert "val/spread_change" not in values  # no initial model measured


def test_overlaps_and_spread_change_of_an_epinet():
    torch.manual_seed(0)
    pool, ledger = near_and_far_pool()
    measure = diagnostics(make_agent(epinet_head()), pool, far_shift=1.0)
    measure.set_initial({"val/spread": 2.0, "val/nll": 0.7})
    values = measure(ledger, {"val/spread": 1.0})
    assert values["val/spread_change"] == 0.5
    assert measure.top == 5 and measure.candidates.shape == (20,)
    assert 0 <= values["pool/overlap_entropy"] <= 1 and 0 <= values["pool/overlap_index"] <= 1
    assert values["pool/far_unseen"] > 0
    # Measured again, the same model gives the same values: every set was drawn once.
    assert measure(ledger, {"val/spread": 1.0}) == values


def test_each_set_is_drawn_apart_from_the_others_sizes():
    pool, _ = near_and_far_pool()
    agent = make_agent(epinet_head())
    small, large = (diagnostics(agent, pool, samples=samples, far_shift=1.0) for samples in (10, 1000))
    assert torch.equal(small.order, large.order) and torch.equal(small.candidates, large.candidates)
    assert torch.equal(small.shift, large.shift)


def test_a_smaller_pool_scales_the_candidates_and_the_top_alike():
    pool, _ = near_and_far_pool()  # 64 inputs
    measure = diagnostics(make_agent(MLPHead(2, 2, hidden=[8])), pool, overlap_candidates=640, overlap_top=64)
    assert measure.candidates.shape == (64,) and measure.top == 6


def test_fixed_index_scores_every_call_with_one_set():
    torch.manual_seed(0)
    pool = TensorInputs(torch.randn(30, 2))
    head = epinet_head()
    variance = get_priority("variance")
    fixed, fresh = make_agent(head, fixed_index=True), make_agent(head)
    scores = [
        agent.score(pool, torch.arange(30), variance, torch.Generator()) for agent in (fixed, fixed, fresh, fresh)
    ]
    assert torch.equal(scores[0], scores[1])
    assert not torch.equal(scores[2], scores[3])
    assert torch.equal(fixed.state_dict()["score_index"], head.sample_index(10, torch.Generator().manual_seed(3)))
    assert fresh.state_dict()["score_index"] is None
