"""Tiny smooth images for the spectral prior's energies (model/spectral_prior.py): every axis of its own size."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from model.config import ModelConfig
from model.energy import Energy
from model.memory import EnergyMemory

E = TypeVar("E", bound=Energy)

SHAPE = (2, 6, 5)  # C, H, W
DIM = 60


def smooth_images(count: int, seed: int = 3) -> torch.Tensor:
    """[count, 2, 6, 5] in [0, 1]: smooth across rows and channels, plus a little pixel noise."""
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.rand(count, 2, 1, 5, generator=generator) * torch.linspace(0.2, 1.0, 6).view(6, 1)
    return (smooth + 0.1 * torch.rand(count, *SHAPE, generator=generator)).clamp(0.0, 1.0)


def fitted_energy(build: Callable[[ModelConfig], E], config: ModelConfig) -> E:
    """`build(config)` in float64 (seed 0), its prior fitted to 400 smooth images."""
    torch.manual_seed(0)
    energy = build(config).double()
    energy.fit_prior(smooth_images(400))
    return energy


def untrained_recall_errors(config: ModelConfig) -> tuple[float, float]:
    """An untrained memory of `config` (float64, seed 1, its prior fitted to 400 smooth images, K = 100) stores
    one image in each of 4 memories and reads it with a block hidden -> the squared distance of the read's top
    k = `basis_rank` whitened coordinates (what the writable layer sees) from the stored image's: written, and
    read from θ̄ (the prior alone, nothing written)."""
    torch.manual_seed(1)
    memory = EnergyMemory(config.replace(read_steps=100)).double()
    prior, basis = memory.energy.prior, config.basis_rank
    memory.energy.fit_prior(smooth_images(400))
    X = smooth_images(4, seed=6).double().unsqueeze(1)  # 4 memories of one image
    known = torch.ones_like(X, dtype=torch.bool)
    known[..., 1:5, 1:4] = False
    Q = X.masked_fill(~known, 0.5)
    with torch.no_grad():
        written, _ = memory.read(memory.write(X), Q, known)
        prior_only, _ = memory.read(memory.energy.theta_bar.expand(4, -1), Q, known)
        written_error, prior_error = (
            float((prior.coordinates(y) - prior.coordinates(X))[..., :basis].pow(2).sum(-1).mean())
            for y in (written, prior_only)
        )
    return written_error, prior_error
