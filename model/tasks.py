"""Memory tasks: what is stored (how queries are corrupted and answers scored: model/domains.py).

A task batch is B memories holding different numbers of patterns, padded to the largest:
X: [B, N, *S] and pattern_mask: [B, N] (True = real pattern).
"""

from __future__ import annotations

import torch
from torch import Tensor

# The paper's Table 1 pattern counts N: what binary models are evaluated and benchmarked at.
TABLE1_COUNTS = (16, 32, 48, 64, 96)


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


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean of values [B, N] over the True entries of mask [B, N]: a scalar, or per row with dim=1."""
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp_min(1.0)
    return (values * mask).sum(dim) / mask.sum(dim).clamp_min(1.0)
