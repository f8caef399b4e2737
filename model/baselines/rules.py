"""Learning rules of the classical Hopfield network: stored patterns -> symmetric weights with zero diagonal.

Each rule maps X: [B, N, D] of ±1 patterns (padding rows all zero, which every rule ignores) to W: [B, D, D].

    Hebb (Hopfield, 1982):        W = Xᵀ X / D
    Storkey (1997), incremental:  W ← W + (x xᵀ − x hᵀ − h xᵀ) / D,  h_ij = Σ_{k≠i,j} w_ik x_k,  one pattern at a time
    pseudo-inverse (projection):  W = X⁺ X  ( = Xᵀ (X Xᵀ)⁻¹ X for N ≤ D linearly independent patterns)

The diagonal is zeroed after each rule (after each pattern for Storkey's), so no unit drives itself.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

LearningRule = Callable[[Tensor], Tensor]


def zero_diagonal(W: Tensor) -> Tensor:
    """W: [B, D, D] -> the same with w_ii = 0."""
    return W - torch.diag_embed(torch.diagonal(W, dim1=-2, dim2=-1))


def hebb(X: Tensor) -> Tensor:
    """Outer-product rule: X: [B, N, D] -> W: [B, D, D]."""
    return zero_diagonal(X.transpose(1, 2) @ X / X.shape[-1])


def storkey(X: Tensor) -> Tensor:
    """Storkey's incremental rule, one pattern after another (a loop over N, batched over memories).

    With w_ii = 0 the local field h_i = Σ_{k≠i} w_ik x_k gives h_ij = h_i − w_ij x_j, and for a ±1 pattern
    (x_i² = 1) the update  x_i x_j − x_i h_ji − h_ij x_j  is  x_i x_j − x_i h_j − h_i x_j + 2 w_ij:
    W ← (1 + 2/D) W + (x (x − h)ᵀ − h xᵀ) / D, a rank-2 update. A padding row (x = 0) leaves W unchanged.
    """
    batch, count, dim = X.shape
    W = X.new_zeros(batch, dim, dim)
    for n in range(count):
        x = X[:, n]  # [B, D]
        h = torch.bmm(W, x.unsqueeze(-1)).squeeze(-1)  # [B, D]
        real = x.ne(0).any(-1).to(X.dtype).view(batch, 1, 1)  # [B, 1, 1]: 0 for a padding row
        left = torch.stack([x, -h], dim=-1)  # [B, D, 2]
        right = torch.stack([x - h, x], dim=1)  # [B, 2, D]
        W = torch.baddbmm(W * (1.0 + 2.0 * real / dim), left, right, alpha=1.0 / dim)
        W.diagonal(dim1=-2, dim2=-1).zero_()
    return W


def pseudo_inverse(X: Tensor) -> Tensor:
    """Projection rule W = X⁺X: each stored pattern is a fixed point of x ↦ Wx before the diagonal is removed.

    The Moore-Penrose pseudo-inverse drops the zero padding rows and copes with N ≥ D; it is taken in float64.
    """
    projection = torch.linalg.pinv(X.double()) @ X.double()  # [B, D, D]
    return zero_diagonal(projection).to(X.dtype)


LEARNING_RULES: dict[str, LearningRule] = {"hebb": hebb, "storkey": storkey, "pseudo_inverse": pseudo_inverse}
