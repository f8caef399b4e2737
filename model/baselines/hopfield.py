"""The classical Hopfield network (Hopfield, 1982) as a batched associative memory.

Memory: symmetric weights W: [D, D] with zero diagonal and a bias b: [D], stored per memory as the strict
upper triangle of W and b, θ: [B, D(D−1)/2 + D] (8256 floats for D = 128: the paper's Table-1 budget).
The learning rules in `rules.py` set W; they leave b = 0.

Energy  E(x) = −½ xᵀ W x − bᵀ x.  Reading runs asynchronous sign updates, one unit at a time in index order,

    x_i ← sign(Σ_j w_ij x_j + b_i)        (x_i unchanged when the field is exactly 0),

which never raise E. A sweep visits every unit once; reading stops at a fixed point (a sweep that changes
nothing in the whole batch) or after `max_sweeps` sweeps. Known entries are clamped: they keep their query
value and only the others are updated (erased entries start at 0, as the query gives them).
"""

from __future__ import annotations

import torch
from torch import Tensor

from model.baselines.rules import LEARNING_RULES, LearningRule


class HopfieldNetwork:
    """A Hopfield network whose weights come from one learning rule: Hebb, Storkey or pseudo-inverse."""

    def __init__(self, rule: str | LearningRule, max_sweeps: int = 30) -> None:
        self.rule = LEARNING_RULES[rule] if isinstance(rule, str) else rule
        self.max_sweeps = max_sweeps

    @staticmethod
    def writable_floats(dim: int) -> int:
        """P = D(D−1)/2 + D: the upper triangle of W plus the bias."""
        return dim * (dim - 1) // 2 + dim

    def write(self, X: Tensor, pattern_mask: Tensor | None = None) -> Tensor:
        """X: [B, N, D] ±1, pattern_mask: [B, N] or None -> θ: [B, D(D−1)/2 + D]."""
        if pattern_mask is not None:
            X = X * pattern_mask.unsqueeze(-1).to(X.dtype)  # padding rows become 0: every rule ignores them
        W = self.rule(X)  # [B, D, D]
        rows, cols = torch.triu_indices(X.shape[-1], X.shape[-1], offset=1, device=X.device)
        bias = X.new_zeros(X.shape[0], X.shape[-1])
        return torch.cat([W[:, rows, cols], bias], dim=1)

    @staticmethod
    def unpack(theta: Tensor, dim: int) -> tuple[Tensor, Tensor]:
        """θ: [B, P] -> W: [B, D, D] symmetric with zero diagonal, b: [B, D]."""
        rows, cols = torch.triu_indices(dim, dim, offset=1, device=theta.device)
        split = rows.numel()
        W = theta.new_zeros(theta.shape[0], dim, dim)
        W[:, rows, cols] = theta[:, :split]
        return W + W.transpose(1, 2), theta[:, split:]

    @staticmethod
    def energy(W: Tensor, b: Tensor, x: Tensor) -> Tensor:
        """W: [B, D, D], b: [B, D], x: [B, M, D] -> E(x) = −½ xᵀWx − bᵀx: [B, M]."""
        return -0.5 * ((x @ W) * x).sum(-1) - (x * b.unsqueeze(1)).sum(-1)

    def read(self, theta: Tensor, Q: Tensor, known: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """θ: [B, P], Q: [B, M, D], known: [B, M, D] bool or None -> (X̂: [B, M, D], E(X̂): [B, M])."""
        W, b = self.unpack(theta, Q.shape[-1])
        free = torch.ones_like(Q, dtype=torch.bool) if known is None else ~known
        x = Q.clone()
        for _ in range(self.max_sweeps):
            changed = torch.zeros(Q.shape[:2], dtype=torch.bool, device=Q.device)  # [B, M]
            for i in range(Q.shape[-1]):
                field = torch.bmm(x, W[:, i].unsqueeze(-1)).squeeze(-1) + b[:, i : i + 1]  # [B, M]
                old = x[..., i]
                new = torch.where(free[..., i], torch.where(field == 0, old, field.sign()), old)
                changed |= new != old
                x[..., i] = new
            if not changed.any():
                break
        return x, self.energy(W, b, x)
