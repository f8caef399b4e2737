"""Tiny smooth images for the spectral prior's energies (model/spectral_prior.py): every axis of its own size."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from model.config import ModelConfig
from model.energy import Energy

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
