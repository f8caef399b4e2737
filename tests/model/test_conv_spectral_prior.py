"""The conv energy on the spectral prior (ConvEnergy with `spectral_prior`, model/spectral_prior.py)."""

from __future__ import annotations

import pytest
import torch

from model.config import ModelConfig, spectral_conv_config
from model.energy import ConvEnergy
from model.memory import EnergyMemory
from tests.model.spectral_images import SHAPE, fitted_energy, smooth_images, untrained_recall_errors

BASIS, FILTERS = 24, 4  # 3×3 filters at stride 2 over 6×5 images: 2 × 2 positions, one filter each


@pytest.fixture
def config() -> ModelConfig:
    return spectral_conv_config(
        "tiny-conv-spectral", SHAPE, BASIS, FILTERS, kernel=3, stride=2, read_steps=20, init_read_lr=0.01
    )


@pytest.fixture
def energy(config: ModelConfig) -> ConvEnergy:
    return fitted_energy(ConvEnergy, config)


def test_the_filters_read_the_priors_whitened_field(config: ModelConfig, energy: ConvEnergy) -> None:
    """θ = 0 leaves the prior: E − E(μ) = ½ ‖c‖²; a filter sees x̃ = Uᵀ [c[:k], 0], which the image's
    coordinates past k do not move; reads step in the prior's metric."""
    assert energy.positions == 4 and energy.writable_numel == FILTERS * 2 * 9 + FILTERS
    assert energy.reads_in_prior_metric
    assert not ConvEnergy(config.replace(spectral_prior=False, meta_hidden=8)).reads_in_prior_metric
    x = smooth_images(5, seed=8).unsqueeze(0).double()
    zero = torch.zeros(1, energy.writable_numel, dtype=torch.float64)
    centre = energy.prior.mu.detach().view(1, 1, *SHAPE)
    c = energy.prior.coordinates(x)
    torch.testing.assert_close(energy.energy(x, zero) - energy.energy(centre, zero), 0.5 * c.pow(2).sum(-1))

    field = energy.prior.whitened_field(c, BASIS)
    torch.testing.assert_close(energy.prior.basis.to_coordinates(field)[..., BASIS:], torch.zeros_like(c[..., BASIS:]))
    torch.testing.assert_close(energy.prior.basis.to_coordinates(field)[..., :BASIS], c[..., :BASIS])


def test_each_filter_starts_with_one_pair_of_wells_at_its_own_position(energy: ConvEnergy) -> None:
    """The readout's unit pairs ±h_{f, p(f)} with p(f) = f mod P, c = 0 and v < 0: a filter's response at its
    own position lowers the energy, at any other position leaves it."""
    weight = energy.readout.weight.detach()
    assert weight.shape == (2 * FILTERS, FILTERS * energy.positions)
    for f in range(FILTERS):
        unit = f * energy.positions + f % energy.positions
        assert weight[f, unit] == 1.0 and weight[FILTERS + f, unit] == -1.0
        assert weight[f].abs().sum() == 1.0 and weight[FILTERS + f].abs().sum() == 1.0
    assert (energy.v < 0).all() and (energy.readout.bias == 0).all()


def test_an_untrained_write_holds_one_image(config: ModelConfig) -> None:
    """From the assigned wells a write already stores: with a block hidden, the read's top k coordinates (what
    the filters see) land far closer to the stored image's than the prior alone (θ̄, nothing written) puts them."""
    written, prior_only = untrained_recall_errors(config)
    assert written < 0.5 * prior_only, (written, prior_only)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(quadratic_energy=True), "one prior"),
        (dict(meta_hidden=2 * FILTERS + 1), "meta_hidden = 2 × writable_hidden"),
        (dict(basis_rank=0), "basis_rank"),
    ],
)
def test_the_spectral_prior_needs_its_shapes(config: ModelConfig, changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConvEnergy(config.replace(**changes))


def test_the_well_range_keeps_the_wells_curvature_and_widens_their_linear_range(config: ModelConfig) -> None:
    """`well_range` τ starts filters τ times shorter under wells τ² times deeper: the same energy near the prior's
    centre (where tanh is linear), a deeper one far along a filter (where τ = 1's tanh has saturated)."""
    narrow, wide = (fitted_energy(ConvEnergy, config.replace(well_range=tau)) for tau in (1.0, 4.0))
    centre = narrow.prior.mu.detach().view(1, 1, *SHAPE)
    direction = torch.randn(1, 1, *SHAPE, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def well(energy: ConvEnergy, step: float) -> float:
        """The energy's wells (E less its prior's ½ ‖c‖²) at centre + step · direction, relative to the centre."""
        x, theta = centre + step * direction, energy.theta_bar.detach().unsqueeze(0)
        with torch.no_grad():
            e = energy.energy(x, theta) - 0.5 * energy.prior.coordinates(x).pow(2).sum(-1)
            return float(e - energy.energy(centre, theta))

    near = [well(energy, 1e-3) for energy in (narrow, wide)]
    assert near[0] < 0 and abs(near[1] - near[0]) < 1e-3 * abs(near[0]), near
    far = [well(energy, 3.0) for energy in (narrow, wide)]
    assert far[1] < 2.0 * far[0] < 0, far


def test_a_write_keeps_every_filter_under_its_norm_cap(config: ModelConfig) -> None:
    """`filter_norm_cap` projects each write step: no filter ends longer than the cap times θ̄'s, where the same
    write without it grows some past that."""
    torch.manual_seed(1)
    fast = config.replace(init_write_lr=100 * config.init_write_lr)
    X = smooth_images(4, seed=6).double().unsqueeze(1)
    split = FILTERS * SHAPE[0] * 9

    def growth(cap: float) -> torch.Tensor:
        memory = EnergyMemory(fast.replace(filter_norm_cap=cap)).double()
        memory.energy.fit_prior(smooth_images(400))
        with torch.no_grad():
            theta = memory.write(X)
        start = memory.energy.theta_bar[:split].view(FILTERS, -1).norm(dim=-1)
        return theta[:, :split].view(4, FILTERS, -1).norm(dim=-1) / start  # [4 memories, F]

    assert growth(0.0).max() > 1.5
    assert growth(1.5).max() <= 1.5 + 1e-9
