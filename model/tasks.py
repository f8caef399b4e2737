"""Memory tasks: what is stored, how it is queried, how an answer is scored.

A task batch is B memories holding different numbers of patterns, padded to the largest:
X: [B, N, *S] and pattern_mask: [B, N] (True = real pattern).
"""

from __future__ import annotations

import torch
from torch import Tensor

from model.config import ModelConfig
from model.distortions import erase, occlude


def pattern_mask(counts: Tensor, max_count: int | None = None) -> Tensor:
    """counts: [B] -> [B, N] bool with the first counts[b] entries of row b True."""
    n = int(counts.max()) if max_count is None else max_count
    return torch.arange(n, device=counts.device) < counts[:, None]


def random_binary_patterns(batch: int, count: int, dim: int, generator: torch.Generator | None = None) -> Tensor:
    """Uniform random ±1 patterns: [B, N, D]."""
    bits = torch.randint(0, 2, (batch, count, dim), generator=generator)
    return bits.float() * 2.0 - 1.0


def sample_counts(batch: int, low: int, high: int, generator: torch.Generator | None = None) -> Tensor:
    """Pattern counts per memory, uniform on [low, high]: [B]."""
    return torch.randint(low, high + 1, (batch,), generator=generator)


def standard_distortion(
    config: ModelConfig, X: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """The model's standard query distortion (used for training and the write-time self-check).

    Binary models erase `distortion_size` entries; image models occlude a `distortion_size`² block filled
    with the middle of the value range. Returns (Q, known), both shaped like X.
    """
    if config.domain == "binary":
        return erase(X, config.distortion_size, generator)
    lo, hi = config.value_range
    return occlude(X, config.distortion_size, fill=(lo + hi) / 2.0, generator=generator)


def decode(config: ModelConfig, X_hat: Tensor) -> Tensor:
    """The answer a user gets from a read state: ±1 signs for binary models (0 never returned), else X̂."""
    if config.domain == "binary":
        return torch.where(X_hat >= 0, 1.0, -1.0).to(X_hat.dtype)
    return X_hat


def recall_error(config: ModelConfig, X_hat: Tensor, X: Tensor) -> Tensor:
    """Per-query error [B, M]: wrong bits (sign differs; 0 counts as wrong) for binary, else MSE."""
    if config.domain == "binary":
        return (torch.sign(X_hat) != X).flatten(2).sum(-1).to(X_hat.dtype)
    return (X_hat - X).flatten(2).pow(2).mean(-1)


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean of values [B, N] over the True entries of mask [B, N]: a scalar, or per row with dim=1."""
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp_min(1.0)
    return (values * mask).sum(dim) / mask.sum(dim).clamp_min(1.0)
