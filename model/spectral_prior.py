"""The spectral prior: a training split's Gaussian, diagonal in a separable basis (model/separable_basis.py).

The prior of the spectral energy and of the FC energy's `spectral_prior` option (model/energy.py). With
d = x − μ, its coordinates p = U d (largest training variance first) and the whitened c = s ⊙ p,

    E_prior(x) = ½ ‖c‖²,   ∇ₓ E_prior = Uᵀ (s ⊙ c),   Σ = Uᵀ diag(s⁻²) U.

μ: [D] and the scales s: [D] (kept as log s) are meta-learned, started by `fit` at the training images' mean
and their variances' λ^-½; the basis is fitted, not learned.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.separable_basis import SeparableBasis


class SpectralPrior(nn.Module):
    """A Gaussian over patterns of `shape` = (C, H, W), diagonal in a separable basis. Patterns: [B, M, *S];
    coordinates: [B, M, D], ordered by decreasing training variance."""

    def __init__(self, shape: tuple[int, ...], value_range: tuple[float, float]) -> None:
        super().__init__()
        self.basis = SeparableBasis(shape)
        self.mu = nn.Parameter(torch.full((self.basis.dim,), sum(value_range) / 2))
        self.log_scale = nn.Parameter(torch.zeros(self.basis.dim))

    def fit(self, images: Tensor) -> None:
        """μ, the basis and s from the training images: [P, *S] (their mean; variances with a ridge)."""
        flat = images.flatten(1).double()
        mean = flat.mean(0)
        variances = self.basis.fit(flat - mean)
        with torch.no_grad():
            self.mu.copy_(mean)
            self.log_scale.copy_(-0.5 * variances.log())

    def coordinates(self, x: Tensor) -> Tensor:
        """x: [B, M, *S] -> the whitened c = s ⊙ U (x − μ): [B, M, D]."""
        return self.basis.to_coordinates(x.flatten(2) - self.mu) * self.log_scale.exp()

    def whitened_field(self, c: Tensor, count: int) -> Tensor:
        """c: [B, M, D] -> x̃ = Uᵀ [c[:count], 0]: [B, M, D], the first `count` whitened coordinates back on the
        pixels (the conv energy's input)."""
        return self.basis.from_coordinates(torch.cat([c[..., :count], torch.zeros_like(c[..., count:])], -1))

    def input_gradient(self, energy_by_coordinates: Tensor, x: Tensor) -> Tensor:
        """∂E/∂c: [B, M, D] -> ∇ₓE = Uᵀ (s ⊙ ∂E/∂c), shaped like x."""
        return self.basis.from_coordinates(energy_by_coordinates * self.log_scale.exp()).view_as(x)

    def gradient_metric(self, count: int) -> Tensor:
        """s[:count]²: [count], the metric ‖∇ₓE‖² takes on the first `count` whitened coordinates (∇ₓE = Uᵀ (s ⊙ ∂E/∂c),
        U orthonormal)."""
        return self.log_scale[:count].mul(2).exp()

    def covariance_product(self, g: Tensor) -> Tensor:
        """Σ g = Uᵀ (s⁻² ⊙ U g): [B, M, *S] -> [B, M, *S], the read's step direction in the prior's metric."""
        p = self.basis.to_coordinates(g.flatten(2))
        return self.basis.from_coordinates(p * self.log_scale.mul(-2).exp()).view_as(g)
