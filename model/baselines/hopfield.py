"""The classical Hopfield network (Hopfield, 1982) as a batched associative memory.

Memory: symmetric weights W: [D, D] with zero diagonal and a bias b: [D], stored per memory as the strict
upper triangle of W and b, θ: [B, D(D−1)/2 + D] (8256 floats for D = 128: the paper's Table-1 budget).
The learning rules in `rules.py` set W; they leave b = 0.

Energy  E(x) = −½ xᵀ W x − bᵀ x.  Reading runs asynchronous sign updates, one unit at a time in index order,

    x_i ← sign(Σ_j w_ij x_j + b_i)        (x_i unchanged when the field is exactly 0),

which never raise E. A sweep visits every unit once; a query stops at a fixed point (a sweep that changes
none of its units), and reading ends when every query has stopped or after `max_sweeps` sweeps. Known entries
are clamped: they keep their query value and only the others are updated (erased entries start at 0, as the
query gives them).
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
        """θ: [B, P], Q: [B, M, D], known: [B, M, D] bool or None -> (X̂: [B, M, D], E(X̂): [B, M]).

        The B·M queries run side by side. Their local fields h = Wx + b are computed once and then updated
        only where a unit flips (h += Δx_i · W[:, i]); a query whose sweep changed nothing is at a fixed point
        and leaves the active set, so later sweeps cost only the queries still moving.
        """
        batch, queries, dim = Q.shape
        W, b = self.unpack(theta, dim)
        states = Q.reshape(batch * queries, dim).clone()  # [B·M, D]: the answers, written back every sweep
        rows = torch.arange(batch * queries, device=Q.device)  # [A]: the active queries' rows in `states`
        owner = rows // queries  # [A]: the memory each active query reads
        # Unit-major state [D, A]: unit i of every active query is one contiguous row.
        x = states.T.contiguous()
        free = torch.ones_like(x, dtype=torch.bool) if known is None else (~known).reshape(-1, dim).T.contiguous()
        field = torch.baddbmm(b.unsqueeze(1), Q, W).reshape(-1, dim)  # [A, D]; W is symmetric
        for _ in range(self.max_sweeps):
            moved = torch.zeros_like(rows, dtype=torch.bool)  # [A]
            for i in range(dim):
                h = field[:, i]
                new = torch.where(free[i] & (h != 0), h.sign(), x[i])  # [A]
                flipped = (new != x[i]).nonzero().squeeze(1)  # [F]
                if flipped.numel() == 0:
                    continue
                step = new[flipped] - x[i, flipped]  # [F]
                x[i, flipped] = new[flipped]
                field.index_add_(0, flipped, step.unsqueeze(1) * W[owner[flipped], i])
                moved[flipped] = True
            states[rows] = x.T
            active = moved.nonzero().squeeze(1)
            if active.numel() == 0:
                break
            rows, owner, x, free, field = rows[active], owner[active], x[:, active], free[:, active], field[active]
        X_hat = states.view_as(Q)
        return X_hat, self.energy(W, b, X_hat)
