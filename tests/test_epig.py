"""EPIG on hand-computed cases, its target draw, and a run end to end.

Logits are built as log-probabilities, so softmax(logits) is exactly the probability table written
in the test and the mutual information can be worked out on paper.
"""

from __future__ import annotations

import math

import pytest
import torch
from lightning_fabric import Fabric

from epinet_al.acquisition import epig as epig_module
from epinet_al.acquisition.epig import epig
from epinet_al.acquisition.priorities import bald, get_priority
from epinet_al.acquisition.specs import EPISTEMIC_PRIORITIES, TARGET_PRIORITIES
from epinet_al.active_learning.agent import Agent
from epinet_al.active_learning.ledger import LabelLedger
from epinet_al.active_learning.sampling import draw_targets
from epinet_al.data.inputs import TensorInputs
from epinet_al.experiment import run_experiment
from epinet_al.models import EnnModule
from epinet_al.networks.enn import ENN
from epinet_al.networks.ensemble import EnsembleHead
from epinet_al.networks.head import MLPHead
from tests.tiny_configs import TINY, experiment_config

pytestmark = pytest.mark.usefixtures("single_thread")


def logits_of(probs: list) -> torch.Tensor:
    """Logits [A, B, C] whose softmax is ``probs`` (zeros become -inf)."""
    return torch.tensor(probs, dtype=torch.float64).log()


def random_logits(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_registered_as_an_epistemic_target_priority():
    assert get_priority("epig") is epig
    assert "epig" in EPISTEMIC_PRIORITIES and "epig" in TARGET_PRIORITIES


def test_zero_when_all_index_samples_agree():
    logits = random_logits(1, 6, 3).expand(8, -1, -1)
    targets = random_logits(8, 5, 3, seed=1)  # the targets may disagree: y and y* stay independent
    assert torch.equal(epig(logits, target_logits=targets), torch.zeros(6, dtype=torch.float64))


def test_zero_for_a_plain_head():
    torch.manual_seed(0)
    head = MLPHead(4, 3, hidden=[8])
    index = head.sample_index(10)
    logits = head(torch.randn(6, 4), index)
    targets = head(torch.randn(5, 4), index)
    assert torch.equal(epig(logits, target_logits=targets), torch.zeros(6))


def test_two_samples_two_classes_by_hand():
    # Candidate: p_1 = (0.9, 0.1), p_2 = (0.1, 0.9). Target 1: q_1 = (0.8, 0.2), q_2 = (0.2, 0.8).
    # p(y, y*) = mean_a p_a(y) q_a(y*) = [[0.37, 0.13], [0.13, 0.37]], both marginals (0.5, 0.5):
    # I = 2 * 0.37 log(0.37 / 0.25) + 2 * 0.13 log(0.13 / 0.25). Target 2, q = (0.5, 0.5) for both
    # samples, is independent of y: I = 0. EPIG is the mean over the two targets.
    logits = logits_of([[[0.9, 0.1]], [[0.1, 0.9]]])
    targets = logits_of([[[0.8, 0.2], [0.5, 0.5]], [[0.2, 0.8], [0.5, 0.5]]])
    by_hand = (0.74 * math.log(0.37 / 0.25) + 0.26 * math.log(0.13 / 0.25)) / 2
    assert epig(logits, target_logits=targets).item() == pytest.approx(by_hand, rel=1e-12)


def test_certain_but_opposite_samples_give_one_bit():
    # p_1 = (1, 0), p_2 = (0, 1) on the candidate and on the target: y* = y, I = H(y) = log 2.
    hard = logits_of([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert epig(hard, target_logits=hard).item() == pytest.approx(math.log(2), rel=1e-12)


def test_nonnegative_and_at_most_bald():
    # y -- index -- y*: the information about y* cannot exceed the information about the index.
    logits, targets = random_logits(7, 40, 4, seed=2) * 3, random_logits(7, 9, 4, seed=3) * 3
    scores = epig(logits, target_logits=targets)
    assert (scores >= 0).all()
    assert (scores <= bald(logits) + 1e-12).all()
    assert scores.max() > 0


def test_chunking_over_candidates_does_not_change_the_scores(monkeypatch):
    logits, targets = random_logits(5, 30, 3, seed=4), random_logits(5, 7, 3, seed=5)
    whole = epig(logits, target_logits=targets)
    monkeypatch.setattr(epig_module, "_MAX_JOINT_ENTRIES", 7 * 9 * 4)  # chunks of 4 candidates
    torch.testing.assert_close(epig(logits, target_logits=targets), whole, rtol=0, atol=1e-15)


def test_mismatched_index_samples_are_refused():
    with pytest.raises(ValueError, match="same A index samples"):
        epig(random_logits(4, 3, 2), target_logits=random_logits(5, 3, 2))


# ---------------------------------------------------------------- targets in the loops


def test_targets_are_seeded_unlabeled_pool_examples():
    pool = TensorInputs(torch.arange(20.0)[:, None])
    ledger = LabelLedger(torch.zeros(20, dtype=torch.long), budget=20)
    ledger.reveal(torch.arange(12))

    def draw(seed: int, num: int = 5) -> torch.Tensor:
        return draw_targets(pool, ledger, num, torch.Generator().manual_seed(seed))[:, 0]

    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))
    assert draw(0).unique().numel() == 5 and (draw(0) >= 12).all()
    # More than the 8 unlabeled examples: all of them.
    assert sorted(draw(0, num=100).tolist()) == list(range(12, 20))
    ledger.reveal(torch.arange(12, 20))  # nothing left unlabeled: targets come from the whole pool
    assert sorted(draw(0, num=100).tolist()) == list(range(20))


def test_target_logits_use_the_candidates_index():
    torch.manual_seed(0)
    module = EnnModule(
        ENN(torch.nn.Identity(), EnsembleHead(3, 2, hidden=[4], ensemble_size=5)),
        optimizer=torch.optim.SGD,
        train_index_samples=5,
        index_generator=torch.Generator().manual_seed(0),
    )
    pool, targets = TensorInputs(torch.randn(6, 3)), torch.randn(4, 3)
    seen = {}

    def priority(logits, generator=None, *, target_logits):
        seen.update(logits=logits, target_logits=target_logits)
        return epig(logits, target_logits=target_logits)

    state = module.index_generator.get_state()
    agent = Agent(
        Fabric(accelerator="cpu", devices=1),
        module,
        torch.optim.SGD(module.parameters(), lr=0.1),
        num_index_samples=7,
        eval_index_samples=7,
        eval_generator=torch.Generator(),
    )
    agent.score(pool, torch.arange(6), priority, torch.Generator(), targets=targets, batch_size=4)
    module.index_generator.set_state(state)
    index = module.sample_index(7)
    with torch.no_grad():
        torch.testing.assert_close(seen["logits"], module(pool.data, index).double())
        torch.testing.assert_close(seen["target_logits"], module(targets, index).double())


@pytest.mark.parametrize("protocol", ["prioritized", "pool"])
def test_epig_runs_end_to_end_on_the_testbed(tmp_path, protocol):
    cfg = experiment_config([*TINY[protocol], "acquisition=epig", "acquisition.num_targets=8"])
    summary = run_experiment(cfg, tmp_path)
    assert summary["run"]["priority"] == "epig"
    assert summary["final"]["num_labels"] == 20
    assert summary["config"]["acquisition"]["num_targets"] == 8


def test_epig_needs_a_head_with_an_index():
    with pytest.raises(ValueError, match="epistemic index"):  # refused when the config is converted
        experiment_config([*TINY["prioritized"], "head=mlp", "acquisition=epig"])
