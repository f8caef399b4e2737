"""Differentiable plasticity (Miconi et al., 2018): fixed weights plus a Hebbian trace with learned plasticity.

A recurrent network of D units, one per bit. Each connection has a fixed weight w_ij and a learned plasticity
coefficient α_ij; the Hebbian trace is the memory. Writing presents the patterns one after another, each
clamping the units' activity, and applies Miconi's decaying Hebbian rule

    Hebb ← (1 − η) Hebb + η x xᵀ        (η learned),

in closed form: Hebb = Σₙ η (1 − η)^(N−1−n) xₙ xₙᵀ over the real patterns (padding rows get weight 0). The trace
is symmetric, so θ is its upper triangle with the diagonal: D(D+1)/2 floats (8,256 for D = 128).

Reading runs K steps of  y ← tanh((w + α ⊙ Hebb) y + b + g ⊙ q)  from y = q, known units clamped to the query;
the last pre-activation gives the bits' logits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.baselines.learned import LearnedConfig, LearnedMemory


class DifferentiablePlasticity(LearnedMemory):
    """A plastic recurrent network whose Hebbian trace is the memory."""

    def __init__(self, config: LearnedConfig) -> None:
        super().__init__(config)
        D = config.input_dim
        self.weight = nn.Parameter(torch.zeros(D, D))  # w: fixed (meta-learned) weights
        self.plasticity = nn.Parameter(0.01 * (2 * torch.rand(D, D) - 1))  # α, small and of either sign at first
        self.bias = nn.Parameter(torch.zeros(D))
        self.input_gain = nn.Parameter(torch.ones(D))  # g
        self.logit_rate = nn.Parameter(torch.tensor(-2.0))  # η = σ(·) ≈ 0.12
        rows, cols = torch.triu_indices(D, D)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    @staticmethod
    def state_floats(config: LearnedConfig) -> int:
        return config.input_dim * (config.input_dim + 1) // 2

    def _write(self, X: Tensor, real: Tensor) -> Tensor:
        eta = torch.sigmoid(self.logit_rate)
        order = real.cumsum(1) - 1  # [B, N]: position among the real patterns
        later = (real.sum(1, keepdim=True) - 1 - order).clamp_min(0).to(X.dtype)  # real patterns written after
        weights = eta * (1 - eta) ** later * real.to(X.dtype)  # [B, N]
        hebb = X.transpose(1, 2) @ (weights.unsqueeze(-1) * X)  # [B, D, D]
        return hebb[:, self.rows, self.cols]

    def trace(self, theta: Tensor) -> Tensor:
        """θ: [B, P] -> the symmetric Hebbian trace: [B, D, D]."""
        D = self.config.input_dim
        upper = theta.new_zeros(theta.shape[0], D, D)
        upper[:, self.rows, self.cols] = theta
        return upper + upper.transpose(1, 2) - torch.diag_embed(upper.diagonal(dim1=1, dim2=2))

    def _logits(self, theta: Tensor, Q: Tensor, known: Tensor | None) -> Tensor:
        recurrent = self.weight + self.plasticity * self.trace(theta)  # [B, D, D]
        drive = self.bias + self.input_gain * Q  # [B, M, D]
        y = Q
        for _ in range(self.config.read_steps):
            pre = y @ recurrent.transpose(1, 2) + drive
            y = torch.tanh(pre)
            if known is not None:
                y = torch.where(known, Q, y)
        return pre
