"""The modern (dense, continuous) Hopfield network of Ramsauer et al. (2020), "Hopfield Networks is All You Need".

Memory: the raw stored patterns themselves, θ = vec(X): [B, N·D] — it grows with N (N·D floats, unlike the
fixed budget of the other memories). A row of zeros is padding (a stored ±1 pattern never is).

Energy  E(ξ) = −β⁻¹ log Σ_i exp(β x_iᵀ ξ) + ½ ξᵀξ  (constants dropped); its update rule

    ξ ← Xᵀ softmax(β X ξ)

is applied `steps` times (one update retrieves a well-separated pattern, Ramsauer et al. Theorem 4), with
known entries clamped to their query value.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ModernHopfield:
    """Softmax retrieval over the stored patterns with inverse temperature β."""

    def __init__(self, beta: float = 1.0, steps: int = 1) -> None:
        self.beta = beta
        self.steps = steps

    @staticmethod
    def writable_floats(dim: int, count: int) -> int:
        """P = N·D: every stored pattern is kept."""
        return count * dim

    def write(self, X: Tensor, pattern_mask: Tensor | None = None) -> Tensor:
        """X: [B, N, D], pattern_mask: [B, N] or None -> θ: [B, N·D] (padding rows zeroed)."""
        if pattern_mask is not None:
            X = X * pattern_mask.unsqueeze(-1).to(X.dtype)
        return X.flatten(1)

    def _scores(self, stored: Tensor, real: Tensor, x: Tensor) -> Tensor:
        """stored: [B, N, D], real: [B, N], x: [B, M, D] -> β X ξ: [B, M, N], −inf at padding."""
        scores = self.beta * torch.bmm(x, stored.transpose(1, 2))
        return scores.masked_fill(~real.unsqueeze(1), float("-inf"))

    def read(self, theta: Tensor, Q: Tensor, known: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """θ: [B, N·D], Q: [B, M, D], known: [B, M, D] bool or None -> (X̂: [B, M, D], E(X̂): [B, M])."""
        stored = theta.view(theta.shape[0], -1, Q.shape[-1])  # [B, N, D]
        real = stored.ne(0).any(-1)  # [B, N]
        x = Q
        for _ in range(self.steps):
            x = torch.softmax(self._scores(stored, real, x), dim=-1) @ stored  # [B, M, D]
            if known is not None:
                x = torch.where(known, Q, x)
        energy = -torch.logsumexp(self._scores(stored, real, x), dim=-1) / self.beta + 0.5 * x.pow(2).sum(-1)
        return x, energy
