"""The epinet head: shapes, the frozen prior, stop-gradient, the shared index, cost and initialisation."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

import epinet_al.networks.epinet as epinet_module
from epinet_al.experiment import run_experiment
from epinet_al.models import EnnModule
from epinet_al.models.bootstrap import GaussianIndexBootstrap
from epinet_al.networks.enn import ENN
from epinet_al.networks.epinet import EpinetHead, IndexedMLP
from epinet_al.networks.head import MLPHead
from epinet_al.networks.initializers import reference_linear
from epinet_al.networks.specs import EpinetHeadConfig
from tests.tiny_configs import TINY, experiment_config

pytestmark = pytest.mark.usefixtures("single_thread")

F, C, D = 6, 3, 4  # features, classes, index dimension
HEAD_KINDS = [(prior, include_hidden) for prior in ("mlp", "ensemble") for include_hidden in (False, True)]


def make_head(prior: str = "mlp", include_hidden: bool = False, seed: int = 0) -> EpinetHead:
    torch.manual_seed(seed)
    return EpinetHead(
        F,
        C,
        hidden=[8, 8],
        index_dim=D,
        epinet_hidden=[7, 7],
        include_hidden=include_hidden,
        prior=prior,
        prior_hidden=[5, 5],
        prior_scale=1.0,
    )


def features(batch: int = 5, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, F, generator=torch.Generator().manual_seed(seed))


def index(head: EpinetHead, num: int, seed: int = 2) -> torch.Tensor:
    return head.sample_index(num, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("prior", "include_hidden"), HEAD_KINDS)
def test_output_shape(prior, include_hidden):
    head = make_head(prior, include_hidden)
    z = index(head, 7)
    assert z.shape == (7, D)
    assert head(features(5), z).shape == (7, 5, C)
    assert head.has_index


def test_indexed_mlp_output_shape():
    net = IndexedMLP(F, D, [7], C)
    assert net(features(5), torch.randn(3, D)).shape == (3, 5, C)


def test_unknown_prior_lists_valid_ones():
    with pytest.raises(ValueError, match="'gaussian'.*mlp, ensemble"):
        make_head(prior="gaussian")


@pytest.mark.parametrize(("prior", "include_hidden"), HEAD_KINDS)
def test_prior_is_frozen_through_training(prior, include_hidden):
    head = make_head(prior, include_hidden)
    body = nn.Linear(5, F)
    module = EnnModule(
        ENN(body, head),
        optimizer=functools.partial(torch.optim.Adam, lr=1e-2),
        train_index_samples=D,
        index_generator=torch.Generator().manual_seed(0),
    )
    prior_params = list(head.prior.parameters())
    assert prior_params and not any(p.requires_grad for p in prior_params)
    optimizer = module.configure_optimizers()
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in prior_params}
    prior_before = [p.detach().clone() for p in prior_params]
    epinet_before = [p.detach().clone() for p in head.epinet.parameters()]

    generator = torch.Generator().manual_seed(3)
    for _ in range(5):
        x = torch.randn(8, 5, generator=generator)
        y = torch.randint(0, C, (8,), generator=generator)
        optimizer.zero_grad()
        loss = module.training_step((x, y))["loss"]
        loss.backward()
        assert all(p.grad is None for p in prior_params)
        optimizer.step()

    assert all(torch.equal(p, before) for p, before in zip(prior_params, prior_before, strict=True))
    # The learnable epinet did train: the frozen prior is not frozen by accident of a zero lr.
    assert any(not torch.equal(p, before) for p, before in zip(head.epinet.parameters(), epinet_before, strict=True))


@pytest.mark.parametrize(("prior", "include_hidden"), HEAD_KINDS)
def test_epinet_sends_no_gradient_into_its_features(prior, include_hidden):
    """With the epinet and prior terms, the body and base get exactly the gradient of mu alone."""
    head = make_head(prior, include_hidden)
    body = nn.Linear(5, F)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(5))
    z = index(head, 3)
    weights = torch.randn(3, 4, C, generator=torch.Generator().manual_seed(6))  # a generic loss
    trunk = [*body.parameters(), *head.base.parameters()]

    full = torch.autograd.grad((head(body(x), z) * weights).sum(), trunk)
    mu_only = torch.autograd.grad((head.base(body(x)).unsqueeze(0) * weights).sum(), trunk)
    for got, expected in zip(full, mu_only, strict=True):
        torch.testing.assert_close(got, expected)

    # The epinet itself does get a gradient from the same loss.
    epinet_grads = torch.autograd.grad((head(body(x), z) * weights).sum(), list(head.epinet.parameters()))
    assert any(g.abs().sum() > 0 for g in epinet_grads)


@pytest.mark.parametrize(("prior", "include_hidden"), HEAD_KINDS)
def test_epinet_term_alone_gives_the_body_no_gradient(prior, include_hidden, monkeypatch):
    head = make_head(prior, include_hidden)
    body = nn.Linear(5, F)
    base_forward = head.base.forward_with_hidden

    def detached_mu(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, hidden = base_forward(x)
        return mu.detach(), hidden  # keep the hidden layer's graph: include_hidden reads it

    monkeypatch.setattr(head.base, "forward_with_hidden", detached_mu)
    out = head(body(torch.randn(4, 5)), index(head, 3))
    grads = torch.autograd.grad(out.sum(), [*body.parameters(), *head.base.parameters()], allow_unused=True)
    assert all(g is None for g in grads)


@pytest.mark.parametrize(("prior", "include_hidden"), HEAD_KINDS)
def test_one_index_is_shared_by_the_batch(prior, include_hidden):
    head = make_head(prior, include_hidden).eval()
    phi = features(6)
    z = index(head, 4)
    batched = head(phi, z)
    for b in range(6):
        torch.testing.assert_close(head(phi[b : b + 1], z), batched[:, b : b + 1])
    for a in range(4):
        torch.testing.assert_close(head(phi, z[a : a + 1]), batched[a : a + 1])
    # Changing the other examples does not change example 0's output for the same z.
    changed = phi.clone()
    changed[1:] = torch.randn(5, F, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(head(changed, z)[:, 0], batched[:, 0])


@pytest.mark.parametrize(("prior", "include_hidden"), HEAD_KINDS)
def test_different_indices_give_different_outputs(prior, include_hidden):
    head = make_head(prior, include_hidden)
    out = head(features(5), index(head, 2))
    assert not torch.allclose(out[0], out[1])
    # The index only enters through the epinet and prior: z = 0 leaves the base logits mu.
    torch.testing.assert_close(head(features(5), torch.zeros(1, D))[0], head.base(features(5)))


def test_indexed_mlp_split_first_layer_equals_mlp_on_concat():
    torch.manual_seed(0)
    net = IndexedMLP(F, D, [7, 6], C)
    phi, z = features(5), torch.randn(3, D, generator=torch.Generator().manual_seed(4))
    expected = []
    for z_a in z:
        concat = torch.cat([z_a.expand(5, D), phi], dim=-1)  # [B, D + F], index first
        m = net.mlp(concat).reshape(5, C, D)  # the plain MLP on concat[z, phi]
        expected.append((m * z_a).sum(-1))  # out_c = sum_d M[c, d] z_d
    torch.testing.assert_close(net(phi, z), torch.stack(expected))


class CountCalls:
    def __init__(self, module: nn.Module):
        self.count = 0
        module.register_forward_hook(self)

    def __call__(self, *_):
        self.count += 1


@pytest.mark.parametrize(("prior", "include_hidden"), HEAD_KINDS)
def test_body_and_base_run_once_for_many_index_samples(prior, include_hidden):
    head = make_head(prior, include_hidden)
    body = nn.Linear(5, F)
    enn = ENN(body, head)
    body_calls = CountCalls(body)
    base_calls = CountCalls(head.base.output_layer)
    out = enn(torch.randn(9, 5), head.sample_index(50))
    assert out.shape == (50, 9, C)
    assert body_calls.count == 1
    assert base_calls.count == 1


def test_reference_init_statistics():
    fan_in = 1000
    layer = reference_linear(fan_in, 1000)
    w = layer.weight.detach()
    assert w.std().item() * math.sqrt(fan_in) == pytest.approx(0.88, abs=0.01)
    assert w.abs().max().item() <= 2 / math.sqrt(fan_in) + 1e-7
    assert torch.equal(layer.bias, torch.zeros(1000))


@pytest.mark.parametrize("prior", ["mlp", "ensemble"])
def test_every_head_layer_uses_the_reference_init(prior):
    torch.manual_seed(0)
    head = EpinetHead(
        256,
        C,
        hidden=[256],
        index_dim=D,
        epinet_hidden=[256],
        include_hidden=True,
        prior=prior,
        prior_hidden=[256],
        prior_scale=1.0,
    )
    # (weight [out, in], bias) of every layer; the ensemble prior stores its members' layers stacked.
    layers = [(m.weight, m.bias) for m in head.modules() if isinstance(m, nn.Linear)]
    if prior == "ensemble":
        layers += [
            (w.transpose(-1, -2), b)
            for ws, bs in zip(head.prior.weights, head.prior.biases, strict=True)
            for w, b in zip(ws, bs, strict=True)
        ]
    assert len(layers) >= 6
    for weight, bias in layers:
        bound = 2 / math.sqrt(weight.shape[1])
        assert weight.abs().max().item() <= bound + 1e-7
        assert torch.equal(bias, torch.zeros_like(bias))
    # PyTorch's default init would give std ~0.58 / sqrt(fan_in) here.
    first = head.base.hidden_layers[0].weight
    assert first.std().item() * math.sqrt(256) == pytest.approx(0.88, abs=0.02)


def test_mlp_head_has_no_index():
    torch.manual_seed(0)
    head = MLPHead(F, C, hidden=[8])
    assert not head.has_index
    z = head.sample_index(4, generator=torch.Generator().manual_seed(0))
    assert z.shape[0] == 4
    out = head(features(5), z)
    assert out.shape == (4, 5, C)
    assert all(torch.equal(out[a], out[0]) for a in range(4))


def test_the_epinets_l2_term_has_its_own_factor():
    head = make_head()
    base = sum(p.square().sum() for p in head.base.parameters())
    epinet = sum(p.square().sum() for p in head.epinet.parameters())
    torch.testing.assert_close(head.l2_penalty(), base + epinet)  # the reference: one weight for both
    head.epinet_l2_factor = 0.25
    torch.testing.assert_close(head.l2_penalty(), base + 0.25 * epinet)


@pytest.mark.parametrize("prior", ["mlp", "ensemble"])
def test_a_layer_normalised_epinet_reads_the_direction_of_its_input_not_its_scale(prior):
    head = make_head(prior)
    head.epinet_layer_norm = True
    x, z = features(), index(head, 3)
    with torch.no_grad():
        uncertain = [head(v, z) - head.base(v).unsqueeze(0) for v in (x, 3 * x)]
    torch.testing.assert_close(uncertain[0], uncertain[1], rtol=1e-4, atol=1e-4)  # layer_norm's eps
    head.epinet_layer_norm = False
    with torch.no_grad():
        assert not torch.allclose(head(3 * x, z) - head.base(3 * x).unsqueeze(0), uncertain[0])


def test_bootstrap_weights_of_a_gaussian_index():
    z = torch.randn(4000, D, generator=torch.Generator().manual_seed(0))
    positions = torch.tensor([3, 7, 3])
    for distribution in ("bernoulli", "exponential"):
        weights = GaussianIndexBootstrap(distribution, D, seed=0)(positions, z)  # [A, B]
        assert weights.shape == (4000, 3) and (weights >= 0).all()
        torch.testing.assert_close(weights[:, 0], weights[:, 2])  # one example, one weight per index
        assert not torch.equal(weights[:, 0], weights[:, 1])
        many = GaussianIndexBootstrap(distribution, D, seed=0)(torch.arange(500), z[:500])
        assert abs(float(many.mean()) - 1) < 0.1  # mean weight 1: E[1 + sign(b . z)] = E[Exp(1)] = 1
        again = GaussianIndexBootstrap(distribution, D, seed=0)(positions[:1], z[:5])
        torch.testing.assert_close(again, weights[:5, :1])  # drawn from (seed, position) alone
    assert set(GaussianIndexBootstrap("bernoulli", D, seed=0)(positions, z).unique().tolist()) == {0.0, 2.0}


def test_bootstrap_and_prior_loss_enter_the_loss_as_the_reference_defines_them():
    head = make_head()
    x, y, positions = features(), torch.tensor([0, 1, 2, 0, 1]), torch.arange(5) + 10
    bootstrap = GaussianIndexBootstrap("exponential", D, seed=0)
    module = EnnModule(
        ENN(torch.nn.Identity(), head),
        optimizer=torch.optim.SGD,
        train_index_samples=3,
        index_generator=torch.Generator().manual_seed(0),
        bootstrap=bootstrap,
        prior_loss_scale=0.5,
    )
    loss = module.training_step((x, y, positions))["loss"]
    generator = torch.Generator().manual_seed(0)
    z = head.sample_index(3, generator)
    with torch.no_grad():
        weighted = (
            nn.functional.cross_entropy(head(x, z).flatten(0, 1), y.repeat(3), reduction="none")
            * bootstrap(positions, z).flatten()
        )
        fake = torch.randn(x.shape, generator=generator)
        prior_loss = 0.5 * 0.5 * head.learnable_logits(fake, z).square().mean()
    torch.testing.assert_close(loss.detach(), weighted.mean() + prior_loss)


def test_the_prior_loss_needs_a_head_that_reads_vectors():
    with pytest.raises(ValueError, match="prior_loss_scale=0.1 draws fake inputs"):
        experiment_config(["task=sst2", "model=minilm", "model.finetune=full", "head.prior_loss_scale=0.1"])
    with pytest.raises(ValueError, match="unknown head.bootstrap 'poisson'"):
        EpinetHeadConfig(bootstrap="poisson")


def test_an_epinet_with_the_reference_loss_variants_runs_end_to_end(tmp_path):
    options = ["head.bootstrap=bernoulli", "head.prior_loss_scale=0.1", "head.epinet_layer_norm=true"]
    summary = run_experiment(experiment_config([*TINY["prioritized"], *options]), tmp_path)
    assert summary["final"]["num_labels"] == 20 and math.isfinite(summary["final"]["test/nll"])
    assert summary["config"]["head"]["bootstrap"] == "bernoulli"


def test_many_index_samples_run_in_chunks_with_the_same_result(monkeypatch):
    head = make_head()
    x, z = features(), index(head, 7)
    with torch.no_grad():
        whole = head(x, z)
        monkeypatch.setattr(epinet_module, "INDEX_CHUNK", 3)  # chunks of 3, 3 and 1 index samples
        torch.testing.assert_close(head(x, z), whole)
