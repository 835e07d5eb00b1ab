"""The synthetic "neural testbed" problem of method.md.

x ~ N(0, I_D); logits = h(x) / temperature with h a random 2-layer ReLU MLP D -> 50 -> 50 -> C
(weights truncated-normal with std 1/sqrt(fan_in), first-layer bias N(0, 1/D), other biases 0);
y ~ softmax(logits). The pool's labels stay hidden until acquired; the test set measures the
marginal predictive; dyadic batches (tau inputs drawn from kappa anchors, labels resampled from
the true model at each of them) measure the joint predictive.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class TestbedData:
    """One sampled testbed problem. Shapes: P pool, T test, K joint batches of tau inputs, D input."""

    pool_x: torch.Tensor  # [P, D]
    pool_y: torch.Tensor  # [P] long
    test_x: torch.Tensor  # [T, D]
    test_y: torch.Tensor  # [T] long
    joint_x: torch.Tensor  # [K, tau, D]
    joint_y: torch.Tensor  # [K, tau] long
    num_classes: int


def make_generative_model(
    input_dim: int, num_classes: int, generator: torch.Generator
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The random labeling network h: D -> 50 -> 50 -> C, ReLU; its weights come from ``generator`` only.

    Weights: the reference initialisation (as ``epinet_al.networks.initializers``, written out here so that
    the data does not depend on the models): normal with std 1/sqrt(fan_in) cut at 2 std. Biases: 0, except
    the first layer's, N(0, 1/D).
    """
    widths = [input_dim, 50, 50, num_classes]
    weights = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
        std = 1.0 / math.sqrt(fan_in)
        weights.append(
            torch.nn.init.trunc_normal_(
                torch.empty(fan_out, fan_in), std=std, a=-2 * std, b=2 * std, generator=generator
            )
        )
    first_bias = torch.randn(widths[1], generator=generator) / math.sqrt(input_dim)

    def h(x: torch.Tensor) -> torch.Tensor:
        # F.linear, as nn.Linear computes it: the same kernels, so the same labels bit for bit.
        x = torch.relu(F.linear(x, weights[0], first_bias))
        x = torch.relu(F.linear(x, weights[1], torch.zeros(widths[2])))
        return F.linear(x, weights[2], torch.zeros(num_classes))

    return h


def make_testbed(
    *,
    input_dim: int,
    num_classes: int,
    temperature: float,
    pool_size: int,
    test_size: int,
    num_joint_batches: int,
    tau: int,
    kappa: int,
    seed: int,
) -> TestbedData:
    """Sample the labeling network, the pool, the test set and the dyadic joint batches."""
    generator = torch.Generator().manual_seed(seed)
    model = make_generative_model(input_dim, num_classes, generator)

    def sample_labels(x: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(model(x) / temperature, dim=-1)
        return torch.multinomial(probs.reshape(-1, num_classes), 1, generator=generator).reshape(x.shape[:-1])

    pool_x = torch.randn(pool_size, input_dim, generator=generator)
    test_x = torch.randn(test_size, input_dim, generator=generator)
    anchors = torch.randn(num_joint_batches, kappa, input_dim, generator=generator)
    picks = torch.randint(kappa, (num_joint_batches, tau), generator=generator)
    joint_x = torch.gather(anchors, 1, picks.unsqueeze(-1).expand(-1, -1, input_dim))
    return TestbedData(
        pool_x=pool_x,
        pool_y=sample_labels(pool_x),
        test_x=test_x,
        test_y=sample_labels(test_x),
        joint_x=joint_x,
        joint_y=sample_labels(joint_x),
        num_classes=num_classes,
    )
