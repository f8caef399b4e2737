"""The paper's FC energy on the spectral prior (FCEnergy with `spectral_prior`, model/spectral_prior.py)."""

from __future__ import annotations

import math

import pytest
import torch

from model.config import ModelConfig, spectral_fc_config
from model.energy import FCEnergy
from tests.model.by_hand import assert_input_gradient_equals_autograd, assert_write_gradient_equals_autograd
from tests.model.spectral_images import SHAPE, fitted_energy, smooth_images, untrained_recall_errors

BASIS, HIDDEN = 24, 6


@pytest.fixture
def config() -> ModelConfig:
    return spectral_fc_config(
        "tiny-fc-spectral", SHAPE, BASIS, HIDDEN, read_steps=20, init_read_lr=0.01, init_momentum=0.9
    )


@pytest.fixture
def energy(config: ModelConfig) -> FCEnergy:
    return fitted_energy(FCEnergy, config)


def test_input_gradient_by_hand_equals_autograd(energy: FCEnergy) -> None:
    assert_input_gradient_equals_autograd(energy, SHAPE)


def test_write_gradient_by_hand_equals_autograd(energy: FCEnergy) -> None:
    """Including the α term's ‖∇ₓE‖², which the whitened input measures in the prior's scales."""
    assert_write_gradient_equals_autograd(energy, SHAPE)


def test_the_writable_layer_reads_the_priors_top_coordinates(config: ModelConfig, energy: FCEnergy) -> None:
    """θ = 0 leaves the prior: E − E(μ) = ½ ‖c‖², with W: H × k and reads in the prior's metric."""
    assert energy.unpack(energy.theta_bar.detach().unsqueeze(0))[0].shape == (1, HIDDEN, BASIS)
    assert energy.reads_in_prior_metric and not FCEnergy(config.replace(spectral_prior=False)).reads_in_prior_metric
    x = smooth_images(5, seed=8).unsqueeze(0).double()
    theta = torch.zeros(1, energy.writable_numel, dtype=torch.float64)
    centre = energy.prior.mu.detach().view(1, 1, *SHAPE)
    c = energy.prior.coordinates(x)
    torch.testing.assert_close(energy.energy(x, theta) - energy.energy(centre, theta), 0.5 * c.pow(2).sum(-1))


@pytest.mark.parametrize(("row_norm", "flat"), [(2.0, 1.0), (1.0, 0.25)], ids=["written", "theta-bar"])
def test_paired_wells_flatten_the_prior_along_a_row(energy: FCEnergy, row_norm: float, flat: float) -> None:
    """At the start E_fc ≈ −(κ/4) ‖W a‖²: a row of norm 2ρ (ρ = 1 / (2√k), θ̄'s rows) cancels the prior's
    ½ t² along it, θ̄'s own a quarter of it."""
    rho = 1.0 / (2.0 * math.sqrt(BASIS))
    direction = torch.zeros(BASIS, dtype=torch.float64)
    direction[3] = 1.0
    W = torch.zeros(HIDDEN, BASIS, dtype=torch.float64)
    W[0] = row_norm * rho * direction
    theta = torch.cat([W.flatten(), torch.zeros(HIDDEN, dtype=torch.float64)]).unsqueeze(0)
    t = torch.tensor([0.0, 0.3], dtype=torch.float64)
    c = torch.zeros(2, energy.prior.basis.dim, dtype=torch.float64)
    c[:, :BASIS] = t.unsqueeze(1) * direction
    x = energy.prior.mu.detach() + energy.prior.basis.from_coordinates(c * energy.prior.log_scale.detach().neg().exp())
    e = energy.energy(x.view(1, 2, *SHAPE), theta)[0].detach()
    prior_rise = 0.5 * float(t[1]) ** 2
    assert float(e[1] - e[0]) == pytest.approx((1.0 - flat) * prior_rise, abs=0.02 * prior_rise)


def test_an_untrained_write_holds_one_image(config: ModelConfig) -> None:
    """From the paired wells a write already stores: with a block hidden, the read's top k coordinates (what W
    holds; the rest is the prior's) land far closer to the stored image's than the prior alone (θ̄, nothing
    written) puts them."""
    written, prior_only = untrained_recall_errors(config)
    assert written < 0.3 * prior_only, (written, prior_only)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(quadratic_energy=True), "one prior"),
        (dict(meta_hidden=2 * HIDDEN + 1), "meta_hidden = 2 × writable_hidden"),
        (dict(basis_rank=0), "basis_rank"),
    ],
)
def test_the_spectral_prior_needs_its_shapes(config: ModelConfig, changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FCEnergy(config.replace(**changes))
