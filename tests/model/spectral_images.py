"""Tiny smooth images for the spectral prior's energies (model/spectral_prior.py): every axis of its own size."""

from __future__ import annotations

import torch

SHAPE = (2, 6, 5)  # C, H, W
DIM = 60


def smooth_images(count: int, seed: int = 3) -> torch.Tensor:
    """[count, 2, 6, 5] in [0, 1]: smooth across rows and channels, plus a little pixel noise."""
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.rand(count, 2, 1, 5, generator=generator) * torch.linspace(0.2, 1.0, 6).view(6, 1)
    return (smooth + 0.1 * torch.rand(count, *SHAPE, generator=generator)).clamp(0.0, 1.0)
