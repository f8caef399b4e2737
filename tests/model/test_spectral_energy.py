"""The spectral energy: the subspace energy written in a separable prior's top whitened directions
(model/energy.py, model/separable_basis.py)."""

from __future__ import annotations

import pytest
import torch

from model.config import ModelConfig, spectral_config
from model.energy import SpectralEnergy
from model.memory import EnergyMemory
from model.separable_basis import SeparableBasis
from tests.model.by_hand import assert_input_gradient_equals_autograd, assert_write_gradient_equals_autograd
from tests.model.spectral_images import DIM, SHAPE, fitted_energy, smooth_images


@pytest.fixture
def config() -> ModelConfig:
    return spectral_config(
        "tiny-spectral", SHAPE, basis=24, rank=6, read_steps=20, init_read_lr=0.01, init_momentum=0.9
    )


@pytest.fixture
def energy(config: ModelConfig) -> SpectralEnergy:
    return fitted_energy(SpectralEnergy, config)


def test_the_separable_basis_is_orthonormal_and_ordered_by_training_variance() -> None:
    basis = SeparableBasis(SHAPE).double()
    centred = smooth_images(400).flatten(1).double()
    centred = centred - centred.mean(0)
    variances = basis.fit(centred)
    U = basis.to_coordinates(torch.eye(DIM, dtype=torch.float64)).T  # row j: direction j
    torch.testing.assert_close(U @ U.T, torch.eye(DIM, dtype=torch.float64))
    torch.testing.assert_close(basis.from_coordinates(torch.eye(DIM, dtype=torch.float64)), U)
    torch.testing.assert_close(variances, (centred @ U.T).pow(2).sum(0) / 399 + 1e-3)
    assert (variances.diff() <= 0).all() and variances[0] > 10 * variances[-1]


def test_input_gradient_by_hand_equals_autograd(energy: SpectralEnergy) -> None:
    assert_input_gradient_equals_autograd(energy, SHAPE)


def test_write_gradient_by_hand_equals_autograd(energy: SpectralEnergy) -> None:
    assert_write_gradient_equals_autograd(energy, SHAPE)


def test_with_nothing_written_the_energy_is_the_fitted_gaussian(energy: SpectralEnergy) -> None:
    """θ = 0 flattens nothing: E = ½ dᵀ Σ⁻¹ d with Σ diagonal in the basis, holding the training variances;
    the read's step direction is Σ g."""
    flat = smooth_images(400).flatten(1).double()
    torch.testing.assert_close(energy.prior.mu.detach(), flat.mean(0))
    U = energy.prior.basis.to_coordinates(torch.eye(DIM, dtype=torch.float64)).T
    variances = ((flat - flat.mean(0)) @ U.T).pow(2).sum(0) / 399 + 1e-3
    precision = U.T @ torch.diag(1.0 / variances) @ U
    x = torch.rand(1, 4, *SHAPE, dtype=torch.float64)
    d = x.flatten(2) - flat.mean(0)
    theta = torch.zeros(1, energy.writable_numel, dtype=torch.float64)
    torch.testing.assert_close(energy.energy(x, theta), 0.5 * ((d @ precision) * d).sum(-1))
    step = energy.prior_covariance_product(x).flatten(2)
    torch.testing.assert_close(step @ precision, x.flatten(2))


def test_a_set_that_fits_the_rank_is_held_in_the_basis(config: ModelConfig) -> None:
    """A write of N ≤ r images flattens their part in the basis: their energy falls most of the way (written
    rows keep a finite norm, so not all) to that under a θ built to span it (large rows: fully flat), the
    prior's cost of what lies outside the memory's k directions."""
    torch.manual_seed(1)
    memory = EnergyMemory(config).double()
    energy = memory.energy
    energy.fit_prior(smooth_images(400))
    X = smooth_images(3, seed=4).unsqueeze(0).double()
    coordinates = energy.prior.coordinates(X)[0, :, :24]
    padded = torch.cat([coordinates.detach(), torch.randn(3, 24, dtype=torch.float64)])
    spanning = 1e3 * torch.linalg.qr(padded.T)[0].T.reshape(1, -1)
    floor = energy.energy(X, spanning)
    before = energy.energy(X, energy.theta_bar.expand(1, -1))
    after = energy.energy(X, memory.write(X))
    assert (after - floor < 0.1 * (before - floor)).all()


def test_reads_reach_the_energys_minimum_over_the_hidden_pixels(config: ModelConfig) -> None:
    """A read in the prior's metric (unprojected steps) ends at the closed-form minimum, clipped to the box."""
    torch.manual_seed(2)
    memory = EnergyMemory(config.replace(read_steps=300)).double()
    energy = memory.energy
    energy.fit_prior(smooth_images(400))
    X = smooth_images(4, seed=5).unsqueeze(0).double()
    theta = memory.write(X)
    known = torch.ones_like(X, dtype=torch.bool)
    known[..., 1:4, 1:4] = False
    Q = X.masked_fill(~known, 0.5)
    with torch.no_grad():
        x_hat, _ = memory.read(theta, Q, known)
        for i in range(4):
            hidden = ~known[0, i].flatten()
            point = Q[:, i : i + 1]
            gradient = energy.grad_x(point, theta, False).flatten(1)
            steps = point + torch.eye(DIM, dtype=torch.float64).view(DIM, 1, *SHAPE)
            hessian = energy.grad_x(steps, theta.expand(DIM, -1), False).flatten(1) - gradient  # E is quadratic
            minimum = Q[0, i].flatten().clone()
            minimum[hidden] -= torch.linalg.solve(hessian[hidden][:, hidden], gradient[0, hidden])
            torch.testing.assert_close(x_hat[0, i].flatten(), minimum.clamp(0.0, 1.0), atol=1e-4, rtol=0.0)
    assert float((x_hat - X).pow(2).mean()) < float((Q - X).pow(2).mean()) / 2


def test_the_spectral_energy_needs_its_ranks_in_order() -> None:
    with pytest.raises(ValueError, match="r ≤ k ≤ D"):
        SpectralEnergy(spectral_config("bad", SHAPE, basis=4, rank=8))
    with pytest.raises(ValueError, match="shape"):
        SpectralEnergy(spectral_config("flat", (60,), basis=8, rank=4))  # type: ignore[arg-type]
