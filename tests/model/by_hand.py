"""Checks for energies whose gradients are written out by hand (no autograd at serving time): each must equal
what autograd gives for the same energy. Patterns: [B, M, *shape] in float64."""

from __future__ import annotations

import torch

from model.energy import Energy


def assert_input_gradient_equals_autograd(energy: Energy, shape: tuple[int, ...]) -> None:
    """grad_x and energy_and_grad against autograd of `energy.energy`, for 2 memories of 3 patterns."""
    x = torch.rand(2, 3, *shape, dtype=torch.float64)
    theta = torch.randn(2, energy.writable_numel, dtype=torch.float64)
    leaf = x.clone().requires_grad_()
    (auto,) = torch.autograd.grad(energy.energy(leaf, theta).sum(), leaf)
    torch.testing.assert_close(energy.grad_x(x, theta, create_graph=False), auto)
    e, grad = energy.energy_and_grad(x, theta, create_graph=False)
    torch.testing.assert_close(e, energy.energy(x, theta))
    torch.testing.assert_close(grad, auto)


def assert_write_gradient_equals_autograd(energy: Energy, shape: tuple[int, ...]) -> None:
    """The serving write's θ-gradient of Σ w_i [E(x_i) + α‖∇ₓE(x_i)‖²] (`write_loss_grad` without a graph)
    against the base class's autograd one, with uneven pattern weights (one memory half padding)."""
    x = torch.rand(2, 5, *shape, dtype=torch.float64)
    weights = torch.tensor([[0.2] * 5, [0.5, 0.5, 0.0, 0.0, 0.0]], dtype=torch.float64)
    theta = torch.randn(2, energy.writable_numel, dtype=torch.float64)
    alpha = torch.tensor(0.3, dtype=torch.float64)
    by_hand = energy.write_loss_grad(x, weights, theta, alpha, create_graph=False)
    leaf = theta.clone().requires_grad_()
    autograd = Energy.write_loss_grad(energy, x, weights, leaf, alpha, create_graph=True)
    assert not by_hand.requires_grad and autograd.requires_grad
    torch.testing.assert_close(by_hand, autograd.detach())
    assert by_hand.abs().max() > 1e-2  # not trivially zero
