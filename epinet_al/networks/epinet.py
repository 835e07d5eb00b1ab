"""The epinet head of Osband et al. (2022): f(x, z) = mu(x) + sigma_L(sg[phi], z) + lambda sg[sigma_P(sg[phi], z)].

mu is the base MLP head, phi its (stop-gradient) input features, optionally with the base's last
hidden layer (the testbed agent), z ~ N(0, I_D) the epistemic index shared by the batch.
sigma_L is learnable, sigma_P is a prior frozen at its random initialisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from epinet_al.networks.head import Head
from epinet_al.networks.mlp import MLP, stacked_forward, stacked_mlps

# Index samples per pass through the layers after the first: one pass over thousands of samples makes [A, B, H]
# activations that outgrow the CPU's caches, and passes of a few hundred were the fastest (docs/benchmarks.md,
# "How many index samples").
INDEX_CHUNK = 256


class IndexedMLP(nn.Module):
    """sigma(phi, z)_c = sum_d M(concat[z, phi])[c, d] z_d, with M an MLP with C*D outputs.

    The first layer on concat[z, phi] is split into W_z z + W_phi phi so that the feature part is
    computed once per example and the index part once per index sample: scoring A indices costs
    A small MLPs on top of a shared [B, H] term, never A copies of the [B, F] product. The A samples run
    through the rest in chunks of ``INDEX_CHUNK``.
    """

    def __init__(self, feature_dim: int, index_dim: int, hidden: Sequence[int], num_outputs: int):
        super().__init__()
        self.index_dim = index_dim
        self.num_outputs = num_outputs
        self.mlp = MLP(index_dim + feature_dim, hidden, num_outputs * index_dim)

    def forward(self, phi: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """phi [B, F], z [A, D] -> [A, B, C]."""
        layers = [*self.mlp.hidden_layers, self.mlp.output_layer]
        first, rest = layers[0], layers[1:]
        w_z, w_phi = first.weight[:, : self.index_dim], first.weight[:, self.index_dim :]
        shared = (phi @ w_phi.T + first.bias).unsqueeze(0)  # [1, B, H]
        parts = []
        for part in z.split(INDEX_CHUNK):
            x = shared + (part @ w_z.T).unsqueeze(1)  # [a, B, H]
            for layer in rest:
                x = layer(torch.relu(x))
            out = x.unflatten(-1, (self.num_outputs, self.index_dim))  # [a, B, C, D]
            parts.append(torch.einsum("abcd,ad->abc", out, part))
        return torch.cat(parts)


class EnsemblePrior(nn.Module):
    """sum_d z_d p_d(x): D small random MLPs on the raw input (the testbed agent's prior).

    The members are built as ordinary MLPs (reference init, one draw each) and stored stacked, one
    [D, in, out] weight per layer, so the D members run as one batched MLP.
    """

    def __init__(self, feature_dim: int, index_dim: int, hidden: Sequence[int], num_outputs: int):
        super().__init__()
        self.weights, self.biases = stacked_mlps(index_dim, feature_dim, hidden, num_outputs)  # [D, in, out], [D, out]

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x [B, F], z [A, D] -> [A, B, C]."""
        return torch.einsum("dbc,ad->abc", stacked_forward(x, self.weights, self.biases), z)


class EpinetHead(Head):
    """Base MLP head plus a learnable epinet and a frozen prior network."""

    @classmethod
    def from_config(cls, cfg: Any, feature_dim: int, num_outputs: int) -> EpinetHead:
        """The head of a head=epinet config (``prior_scale`` already resolved by epinet_al.config)."""
        return cls(
            feature_dim,
            num_outputs,
            hidden=cfg.hidden,
            index_dim=cfg.index_dim,
            epinet_hidden=cfg.epinet_hidden,
            include_hidden=cfg.include_hidden,
            prior=cfg.prior,
            prior_hidden=cfg.prior_hidden,
            prior_scale=cfg.prior_scale,
            epinet_l2_factor=cfg.epinet_l2_factor,
            epinet_layer_norm=cfg.epinet_layer_norm,
        )

    def __init__(
        self,
        feature_dim: int,
        num_outputs: int,
        *,
        hidden: Sequence[int],
        index_dim: int,
        epinet_hidden: Sequence[int],
        include_hidden: bool,
        prior: str,
        prior_hidden: Sequence[int],
        prior_scale: float,
        epinet_l2_factor: float = 1.0,
        epinet_layer_norm: bool = False,
    ):
        super().__init__()
        self.feature_dim = feature_dim
        self.epinet_l2_factor = epinet_l2_factor
        self.epinet_layer_norm = epinet_layer_norm
        self.index_dim = index_dim
        self.include_hidden = include_hidden
        self.prior_scale = prior_scale
        self.base = MLP(feature_dim, hidden, num_outputs)
        phi_dim = feature_dim + (self.base.hidden_dim if include_hidden else 0)
        self.epinet = IndexedMLP(phi_dim, index_dim, epinet_hidden, num_outputs)
        # The prior reads the same stop-gradient features as the epinet ("mlp", the BERT heads)
        # or the raw input ("ensemble", the testbed agent).
        if prior == "mlp":
            self.prior: nn.Module = IndexedMLP(phi_dim, index_dim, prior_hidden, num_outputs)
        elif prior == "ensemble":
            self.prior = EnsemblePrior(feature_dim, index_dim, prior_hidden, num_outputs)
        else:
            raise ValueError(f"unknown epinet prior {prior!r}; valid priors: mlp, ensemble")
        self.prior_kind = prior
        # Frozen forever: never trained, never decayed, only saved with the weights.
        self.prior.requires_grad_(False)

    def sample_index(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(num, self.index_dim, generator=generator)

    def reference_l2(self, num_labels: int, temperature: float) -> float:
        """0.2 * (D / N)^0.7 on the base and the epinet (neural_testbed agents/factories/epinet.py); the
        prior is frozen and carries none. The temperature does not enter: the prior's scale already has it."""
        return 0.2 * (self.feature_dim / num_labels) ** 0.7

    def l2_penalty(self) -> torch.Tensor:
        """sum(theta^2) over the base plus ``epinet_l2_factor`` x sum(theta^2) over the learnable epinet (the
        reference's factor is 1: one L2 weight for both); the frozen prior carries none."""
        base = torch.stack([p.square().sum() for p in self.base.parameters()]).sum()
        epinet = torch.stack([p.square().sum() for p in self.epinet.parameters()]).sum()
        return base + self.epinet_l2_factor * epinet

    def _epinet_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the epinet and its prior read: stop-gradient ``x``, layer-normalised with ``epinet_layer_norm``
        (each input to mean 0 and variance 1 over its features, no learnable parameters), so that a feature
        vector of small norm is not drowned by the index in their first layer."""
        x = x.detach()  # stop-gradient: the epinet never changes the base or the encoder
        return F.layer_norm(x, x.shape[-1:]) if self.epinet_layer_norm else x

    def _parts(self, features: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The learnable part mu + sigma_L [A, B, C] and the epinet's input phi."""
        mu, hidden = self.base.forward_with_hidden(features)
        phi = self._epinet_input(torch.cat([features, hidden], dim=-1) if self.include_hidden else features)
        return mu.unsqueeze(0) + self.epinet(phi, index), phi

    def learnable_logits(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """mu(x) + sigma_L(phi, z) [A, B, C]: the logits without the frozen prior (the reference's ``train``
        output, which its prior loss pulls to 0 on fake inputs)."""
        return self._parts(features, index)[0]

    def forward(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        learnable, phi = self._parts(features, index)
        with torch.no_grad():
            prior_input = phi if self.prior_kind == "mlp" else self._epinet_input(features)
            prior = self.prior(prior_input, index)
        return learnable + self.prior_scale * prior
