"""Token batches train in groups of similar lengths (trainer.max_padding): little padding, the same update."""

from __future__ import annotations

import copy

import torch
from lightning_fabric import Fabric
from transformers import BertConfig, BertModel

from epinet_al.acquisition.priorities import get_priority
from epinet_al.active_learning.agent import Agent
from epinet_al.data.inputs import length_buckets, trim_rows
from epinet_al.networks.encoder import EncoderBody
from tests.glue.test_bucketed_scoring import epinet_module, tokens

LENGTHS = [4, 17, 6, 30, 9, 12, 5, 21, 8, 3, 16, 7]


def test_groups_are_sorted_by_length_and_padded_to_at_most_the_bound():
    lengths = torch.randint(2, 60, (64,), generator=torch.Generator().manual_seed(0))
    mask = (torch.arange(60) < lengths.unsqueeze(1)).long()
    for bound in (0.0, 0.2, 1.0):
        groups = length_buckets(mask, bound)
        assert sorted(torch.cat(groups).tolist()) == list(range(64))  # every row once
        assert lengths[torch.cat(groups)].tolist() == sorted(lengths.tolist(), reverse=True)
        for rows in groups:
            assert len(rows) * lengths[rows].max() <= (1 + bound) * lengths[rows].sum()
    assert len(length_buckets(mask, 0.2)) < len(length_buckets(mask, 0.0))
    assert len(length_buckets(mask, 100.0)) == 1


def test_a_group_is_cut_to_its_own_longest():
    batch = tokens(LENGTHS).take(torch.arange(len(LENGTHS)))
    rows = torch.tensor([0, 2, 6])
    trimmed = trim_rows(batch, rows)
    assert trimmed["input_ids"].shape == (3, 6)
    assert torch.equal(trimmed["input_ids"], batch["input_ids"][rows, :6])


def agents(*max_paddings: float | None) -> list[Agent]:
    """One agent per ``max_padding``, all with the same weights, optimizer and training indices."""
    torch.manual_seed(0)
    # Without dropout: its masks depend on how the batch is split (the update is then the same in distribution).
    config = BertConfig(
        vocab_size=2000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    initial = epinet_module(EncoderBody(BertModel(config), "mean"))
    fabric = Fabric(accelerator="cpu", devices=1)
    made = []
    for max_padding in max_paddings:
        module = copy.deepcopy(initial)
        module.index_generator = torch.Generator().manual_seed(1)
        wrapped, optimizer = fabric.setup(module, torch.optim.SGD(module.parameters(), lr=0.5))
        made.append(
            Agent(
                fabric,
                wrapped,
                optimizer,
                num_index_samples=4,
                eval_index_samples=4,
                eval_generator=torch.Generator(),
                max_padding=max_padding,
            )
        )
    return made


def test_grouped_training_takes_the_step_of_one_padded_batch():
    pool = tokens(LENGTHS)
    batch = (pool.take(torch.arange(len(LENGTHS))), torch.arange(len(LENGTHS)) % 2)
    one, grouped = agents(None, 0.2)
    assert len(grouped.micro_batches(batch)) > 1 and one.micro_batches(batch) is batch
    before = copy.deepcopy(one.module.state_dict())
    losses = [a.train(batch, step=1, num_labels=12) for a in (one, grouped)]
    assert abs(losses[0] - losses[1]) < 1e-6
    for (name, expected), actual in zip(one.module.named_parameters(), grouped.module.parameters(), strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-7, msg=name)
    assert any(not torch.equal(before[k], v) for k, v in one.module.state_dict().items())  # a step was taken


def test_a_scoring_call_without_a_batch_size_runs_the_agent_s_forward_batches():
    (agent,) = agents(None)
    agent.score_batch_size = 3  # build_agent: model.batch_size where the encoder runs
    passes = []
    agent.module.enn.body.register_forward_hook(lambda module, args, output: passes.append(output.shape[0]))
    agent.score(tokens(LENGTHS), torch.arange(7), get_priority("variance"), torch.Generator())
    assert passes == [3, 3, 1]
