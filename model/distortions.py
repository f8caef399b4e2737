"""Query distortions, batched and seedable. Each returns (distorted: same shape as X, known: bool, same shape).

`known` marks the entries a reader may trust (and clamp): everything but the erased bits / occluded block.
Shapes: X: [..., D] for vectors, X: [..., C, H, W] for images.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _random_subset(shape: tuple[int, ...], dim: int, k: int, generator: torch.Generator | None, device) -> Tensor:
    """A bool mask [*shape, dim] with exactly k True entries along the last axis, chosen uniformly."""
    scores = torch.rand(*shape, dim, generator=generator, device=device)
    chosen = scores.argsort(dim=-1)[..., :k]
    mask = torch.zeros(*shape, dim, dtype=torch.bool, device=device)
    return mask.scatter_(-1, chosen, True)


def erase(X: Tensor, k: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Set k of the D entries of each pattern to 0 (the paper's binary erasure). X: [..., D]."""
    if not 0 <= k <= X.shape[-1]:
        raise ValueError(f"cannot erase {k} of {X.shape[-1]} entries")
    erased = _random_subset(X.shape[:-1], X.shape[-1], k, generator, X.device)
    return X.masked_fill(erased, 0.0), ~erased


def flip(X: Tensor, k: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Flip the sign of k of the D ±1 entries of each pattern. No entry is known to be right."""
    if not 0 <= k <= X.shape[-1]:
        raise ValueError(f"cannot flip {k} of {X.shape[-1]} entries")
    flipped = _random_subset(X.shape[:-1], X.shape[-1], k, generator, X.device)
    return torch.where(flipped, -X, X), torch.zeros_like(flipped)


def occlude(X: Tensor, size: int, fill: float = 0.0, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Replace a random size×size square (the same across channels) of each image by `fill`. X: [..., C, H, W]."""
    height, width = X.shape[-2:]
    if not 0 < size <= min(height, width):
        raise ValueError(f"occlusion {size}×{size} does not fit a {height}×{width} image")
    lead = X.shape[:-3]
    top = torch.randint(0, height - size + 1, lead, generator=generator, device=X.device)
    left = torch.randint(0, width - size + 1, lead, generator=generator, device=X.device)
    rows = torch.arange(height, device=X.device)
    cols = torch.arange(width, device=X.device)
    in_rows = (rows >= top[..., None]) & (rows < top[..., None] + size)  # [..., H]
    in_cols = (cols >= left[..., None]) & (cols < left[..., None] + size)  # [..., W]
    block = (in_rows[..., :, None] & in_cols[..., None, :]).unsqueeze(-3).expand_as(X)  # [..., C, H, W]
    return X.masked_fill(block, fill), ~block


def gaussian_noise(
    X: Tensor, sigma: float, value_range: tuple[float, float] | None = None, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Add N(0, σ²) noise to every entry, clamped to `value_range` if given. No entry is known."""
    noisy = X + sigma * torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)
    if value_range is not None:
        noisy = noisy.clamp(*value_range)
    return noisy, torch.zeros_like(X, dtype=torch.bool)


def erase_and_flip(
    X: Tensor, erased: int, flipped: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Erase `erased` of the D ±1 entries and flip `flipped` of the others: nothing is known to be right."""
    if not 0 <= erased + flipped <= X.shape[-1]:
        raise ValueError(f"cannot erase {erased} and flip {flipped} of {X.shape[-1]} entries")
    chosen = _random_subset(X.shape[:-1], X.shape[-1], erased + flipped, generator, X.device)
    order = torch.rand(X.shape, generator=generator, device=X.device).masked_fill(~chosen, 2.0)
    rank = order.argsort(-1).argsort(-1)  # among the chosen entries, the first `erased` by rank are erased
    to_erase = chosen & (rank < erased)
    to_flip = chosen & ~to_erase
    return torch.where(to_flip, -X, X).masked_fill(to_erase, 0.0), torch.zeros_like(chosen)


def salt_and_pepper(
    X: Tensor, fraction: float, value_range: tuple[float, float], generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Set each entry, with probability `fraction`, to the low or the high end of `value_range` (even odds).
    No entry is known."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"salt-and-pepper fraction must be in [0, 1], got {fraction}")
    lo, hi = value_range
    hit = torch.rand(X.shape, generator=generator, device=X.device) < fraction
    salt = torch.rand(X.shape, generator=generator, device=X.device) < 0.5
    value = torch.where(salt, hi, lo).to(X.dtype)
    return torch.where(hit, value, X), torch.zeros_like(X, dtype=torch.bool)
