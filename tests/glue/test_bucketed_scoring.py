"""Scoring token inputs in length-sorted batches gives the scores of one unsorted batch."""

from __future__ import annotations

import torch
from lightning_fabric import Fabric

from epinet_al.acquisition.priorities import get_priority
from epinet_al.active_learning.agent import Agent, length_order
from epinet_al.data.text_inputs import TokenizedInputs
from epinet_al.models import EnnModule
from epinet_al.networks.encoder import EncoderBody, load_encoder
from epinet_al.networks.enn import ENN
from epinet_al.networks.epinet import EpinetHead
from tests.tiny_configs import experiment_config


def tokens(lengths: list[int]) -> TokenizedInputs:
    offsets = torch.zeros(len(lengths) + 1, dtype=torch.long)
    offsets[1:] = torch.tensor(lengths).cumsum(0)
    ids = torch.randint(1000, 2000, (int(offsets[-1]),), generator=torch.Generator().manual_seed(0), dtype=torch.int32)
    return TokenizedInputs(ids, offsets, None, pad_id=0)


def test_length_order_only_sorts_token_inputs_that_need_several_batches():
    pool = tokens([3, 9, 5, 7])
    assert length_order(pool, torch.tensor([0, 1, 2, 3]), 2).tolist() == [1, 3, 2, 0]
    assert length_order(pool, torch.tensor([0, 1, 2, 3]), 4).tolist() == [0, 1, 2, 3]  # one batch
    assert length_order(pool, torch.tensor([0, 1]), None).tolist() == [0, 1]


def epinet_module(body: EncoderBody) -> EnnModule:
    """A small epinet (index 4, widths 8) on ``body``, trained with 4 index samples."""
    head = EpinetHead(
        body.feature_dim, 2, hidden=[8], index_dim=4, epinet_hidden=[8], include_hidden=False, prior="mlp",
        prior_hidden=[8], prior_scale=1.0,
    )  # fmt: skip
    module = EnnModule(ENN(body, head), optimizer=torch.optim.SGD, train_index_samples=4)
    module.index_generator = torch.Generator()
    return module


def test_bucketed_scores_equal_the_unbucketed_scores():
    torch.manual_seed(0)
    model_cfg = experiment_config(["task=sst2", "model=tiny"]).model
    module = epinet_module(EncoderBody(load_encoder(model_cfg), "cls"))
    agent = Agent(
        Fabric(accelerator="cpu", devices=1),
        module,
        torch.optim.SGD(module.parameters(), lr=0.1),
        num_index_samples=6,
        eval_index_samples=6,
        eval_generator=torch.Generator(),
    )
    pool = tokens([4, 17, 6, 30, 9, 12, 5, 21, 8, 3])
    candidates = torch.tensor([7, 0, 3, 5, 9, 1, 2])

    def scores(batch_size: int | None) -> torch.Tensor:
        module.index_generator.manual_seed(1)
        return agent.score(pool, candidates, get_priority("variance"), torch.Generator(), batch_size=batch_size)

    torch.testing.assert_close(scores(2), scores(None), rtol=1e-5, atol=1e-9)
