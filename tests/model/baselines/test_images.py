"""The classical image memories of the benchmark: what each can and cannot recall within its budget."""

from __future__ import annotations

import torch

from benchmarks.images import scored_mse
from model.baselines.images import BudgetedModernHopfield, GaussianPrior, ProjectionHopfield, WhitenedProjection
from model.distortions import occlude


def _sets(batch: int, count: int) -> torch.Tensor:
    return torch.rand(batch, count, 1, 8, 8, dtype=torch.float64)


def test_projection_recalls_exactly_while_the_set_fits_its_rank() -> None:
    X = _sets(3, 10)
    Q, known = occlude(X, 4, fill=0.5, generator=torch.Generator().manual_seed(0))
    memory = ProjectionHopfield(budget=10 * 64)  # rank 10: the whole span of the set
    X_hat = memory.read(memory.write(X), Q, known)
    assert scored_mse(X_hat, X, ~known).max() < 1e-6
    assert torch.equal(X_hat[known], X[known])


def test_projection_over_budget_only_approximates() -> None:
    X = _sets(3, 20)
    Q, known = occlude(X, 4, fill=0.5, generator=torch.Generator().manual_seed(0))
    small = ProjectionHopfield(budget=5 * 64)
    assert small.write(X).shape == (3, 64, 5)
    error = scored_mse(small.read(small.write(X), Q, known), X, ~known).mean()
    assert 1e-3 < error < scored_mse(Q, X, ~known).mean()


def test_modern_hopfield_keeps_only_what_its_budget_holds() -> None:
    X = _sets(2, 6)
    Q, known = occlude(X, 4, fill=0.5, generator=torch.Generator().manual_seed(1))
    sharp = BudgetedModernHopfield(budget=3 * 64, beta=1e6)
    stored = sharp.write(X)
    assert stored.shape == (2, 3, 64)
    errors = scored_mse(sharp.read(stored, Q, known), X, ~known)  # [2, 6]
    assert errors[:, :3].max() < 1e-12  # kept images come back exactly
    assert errors[:, 3:].min() > 1e-4  # the others cannot
    everything = BudgetedModernHopfield(budget=None, beta=1e6)
    assert scored_mse(everything.read(everything.write(X), Q, known), X, ~known).max() < 1e-12


def test_gaussian_prior_fills_a_hidden_pixel_from_its_correlated_neighbour() -> None:
    """Training images whose two halves are equal: the prior's conditional mean copies the visible half."""
    half = torch.rand(500, 1, 4, 4, dtype=torch.float64)
    train = torch.cat([half, half], dim=-1)  # [500, 1, 4, 8]
    X = torch.rand(2, 3, 1, 4, 4, dtype=torch.float64).repeat(1, 1, 1, 1, 2)
    known = torch.ones_like(X, dtype=torch.bool)
    known[..., 4:] = False  # the right half hidden
    Q = torch.where(known, X, torch.full_like(X, 0.5))
    prior = GaussianPrior(train, ridge=1e-6)
    assert prior.write(X) is None  # stores nothing
    X_hat = prior.read(None, Q, known)
    torch.testing.assert_close(X_hat, X, atol=1e-3, rtol=0)
    known[0, 0, ..., :4] = False  # a second, different mask: no pixel known, so the query is all evidence
    Q = torch.where(known, X, 0.5)
    X_hat = prior.read(None, Q, known)
    torch.testing.assert_close(X_hat[0, 0], Q[0, 0])  # no noise assumed: the query is taken as it is
    torch.testing.assert_close(X_hat[1], X[1], atol=1e-3, rtol=0)
    very_noisy = GaussianPrior(train, ridge=1e-6, noise_variance=1e6)  # the query tells nothing: the answer is μ
    X_hat = very_noisy.read(None, Q, known)
    torch.testing.assert_close(X_hat[0, 0].flatten(), very_noisy.mean.clamp(0, 1), atol=1e-4, rtol=0)


def test_gaussian_prior_denoises_towards_the_training_distribution() -> None:
    """Nothing known and Gaussian noise of known variance: the Wiener estimate is closer than the query."""
    train = torch.rand(2000, 1, 1, 4, dtype=torch.float64).repeat(1, 1, 4, 1)  # every row the same
    X = torch.rand(4, 3, 1, 1, 4, dtype=torch.float64).repeat(1, 1, 1, 4, 1)
    Q = X + 0.2 * torch.randn_like(X)
    known = torch.zeros_like(X, dtype=torch.bool)
    prior = GaussianPrior(train, ridge=1e-6, noise_variance=0.04)
    X_hat = prior.read(None, Q, known)
    assert (X_hat - X).pow(2).mean() < 0.5 * (Q - X).pow(2).mean()


def test_whitened_projection_recalls_a_set_within_its_rank_exactly_and_is_the_prior_beyond() -> None:
    """Its energy is the prior's with the stored directions made flat: a set within the rank comes back
    exactly from a clamped block, and a noisy query comes back closer than the prior alone brings it; a set far
    over the rank gets
    answers at least as good as the prior's alone."""
    train = torch.rand(2000, 1, 8, 8, dtype=torch.float64)
    prior = GaussianPrior(train, value_range=(-10.0, 10.0), ridge=1e-6)
    memory = WhitenedProjection(prior, budget=4 * 64)
    X = _sets(3, 4)
    Q, known = occlude(X, 4, fill=0.5, generator=torch.Generator().manual_seed(0))
    W = memory.write(X)
    assert W.shape == (3, 4, 64)
    X_hat = memory.read(W, Q, known)
    assert scored_mse(X_hat, X, ~known).max() < 1e-8
    assert torch.equal(X_hat[known], X[known])
    assert scored_mse(prior.read(None, Q, known), X, ~known).min() > 1e-3  # the prior alone cannot
    noisy_prior = GaussianPrior(train, value_range=(-10.0, 10.0), ridge=1e-6, noise_variance=0.01)
    Q = X + 0.1 * torch.randn(X.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    nothing_known = torch.zeros_like(known)
    noisy = WhitenedProjection(noisy_prior, budget=4 * 64)
    denoised = (noisy.read(noisy.write(X), Q, nothing_known) - X).pow(2).mean()
    assert denoised < (noisy_prior.read(None, Q, nothing_known) - X).pow(2).mean() < (Q - X).pow(2).mean()
    crowd = _sets(3, 40)
    Q, known = occlude(crowd, 4, fill=0.5, generator=torch.Generator().manual_seed(1))
    over = scored_mse(memory.read(memory.write(crowd), Q, known), crowd, ~known).mean()
    assert 1e-3 < over <= scored_mse(prior.read(None, Q, known), crowd, ~known).mean() * 1.05
