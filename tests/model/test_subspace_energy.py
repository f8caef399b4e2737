"""The subspace energy: a whitened Gaussian prior whose written directions are flat (model/energy.py)."""

from __future__ import annotations

import pytest
import torch

from model.config import ModelConfig, digits_subspace_config
from model.data.sampler import image_source
from model.energy import SubspaceEnergy
from model.memory import EnergyMemory
from model.training import MetaTrainer, TrainSettings
from tests.model.by_hand import assert_input_gradient_equals_autograd, assert_write_gradient_equals_autograd


@pytest.fixture
def config() -> ModelConfig:
    return digits_subspace_config(writable_hidden=4, write_steps=4, read_steps=4)


@pytest.fixture
def energy(config: ModelConfig) -> SubspaceEnergy:
    torch.manual_seed(0)
    energy = SubspaceEnergy(config).double()
    energy.fit_prior(torch.rand(200, 1, 8, 8))
    return energy


def _spanning(energy: SubspaceEnergy, X: torch.Tensor) -> torch.Tensor:
    """θ whose rows are an orthonormal basis of the whitened patterns X: [1, N, *S] (N ≤ r), padded at random."""
    z = (X.flatten(2)[0] - energy.mu) @ energy.whitening.T  # [N, D]
    basis = torch.cat([z, torch.randn(energy.rank - len(z), energy.dim, dtype=z.dtype)])
    return torch.linalg.qr(basis.T)[0].T.reshape(1, -1)


def test_input_gradient_by_hand_equals_autograd(energy: SubspaceEnergy) -> None:
    with torch.no_grad():
        energy.whitening.add_(0.3 * torch.randn_like(energy.whitening))  # not symmetric, as meta-training leaves it
    assert_input_gradient_equals_autograd(energy, (1, 8, 8))


def test_write_gradient_by_hand_equals_autograd(energy: SubspaceEnergy) -> None:
    """With a whitening that is not symmetric, as meta-training leaves it."""
    with torch.no_grad():
        energy.whitening.add_(0.3 * torch.randn_like(energy.whitening))
    assert_write_gradient_equals_autograd(energy, (1, 8, 8))


def test_patterns_in_the_written_span_are_minima(energy: SubspaceEnergy) -> None:
    X = torch.rand(1, 3, 1, 8, 8, dtype=torch.float64)
    theta = _spanning(energy, X)
    assert energy.energy(X, theta).abs().max() < 1e-4
    assert energy.grad_x(X, theta, create_graph=False).abs().max() < 1e-3
    other = torch.rand(1, 3, 1, 8, 8, dtype=torch.float64)
    assert energy.energy(other, theta).min() > 1.0  # elsewhere the prior's cost stays


def test_energy_depends_on_the_written_row_space_only(energy: SubspaceEnergy) -> None:
    x = torch.rand(1, 5, 1, 8, 8, dtype=torch.float64)
    V = torch.randn(1, energy.rank, energy.dim, dtype=torch.float64)
    mixing = torch.randn(energy.rank, energy.rank, dtype=torch.float64) * 7.0  # another basis of the same rows
    torch.testing.assert_close(energy.energy(x, V.flatten(1)), energy.energy(x, (mixing @ V).flatten(1)))


def test_fit_prior_whitens_the_training_images(config: ModelConfig) -> None:
    images = torch.rand(500, 1, 8, 8) * torch.linspace(1.0, 3.0, 64).view(1, 1, 8, 8)
    energy = SubspaceEnergy(config).double()
    energy.fit_prior(images)
    flat = images.flatten(1).double()
    torch.testing.assert_close(energy.mu.detach(), flat.mean(0))
    covariance = torch.cov(flat.T)
    whitened = energy.whitening.detach() @ covariance @ energy.whitening.detach().T
    torch.testing.assert_close(whitened, torch.eye(64, dtype=torch.float64), atol=0.02, rtol=0.0)


def test_a_write_lowers_the_energy_of_the_stored_images(config: ModelConfig) -> None:
    torch.manual_seed(1)
    memory = EnergyMemory(config.replace(write_steps=16)).double()
    memory.energy.fit_prior(torch.rand(300, 1, 8, 8))
    X = torch.rand(3, 2, 1, 8, 8, dtype=torch.float64)
    before = memory.energy.energy(X, memory.energy.theta_bar.expand(3, -1))
    after = memory.energy.energy(X, memory.write(X))
    assert (after < 0.9 * before).all()


def test_a_fresh_training_run_starts_at_the_training_images_gaussian(tmp_path, config: ModelConfig) -> None:
    images = torch.rand(100, 1, 8, 8)
    settings = TrainSettings(steps=1, batch=2, max_patterns=4, eval_every=1, dataset="digits")
    source = image_source(images)

    def sampler(batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return source(batch, 4, generator), torch.ones(batch, 4, dtype=torch.bool)

    trainer = MetaTrainer(config, settings, tmp_path, sampler, eval_source=source, prior_images=images)
    torch.testing.assert_close(trainer.memory.energy.mu.detach(), images.flatten(1).mean(0), atol=1e-6, rtol=0.0)
