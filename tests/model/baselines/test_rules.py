"""The learning rules against their textbook definitions, written out element by element."""

from __future__ import annotations

import pytest
import torch

from model.baselines import LEARNING_RULES, pseudo_inverse, storkey
from model.tasks import random_binary_patterns


def _storkey_reference(X: torch.Tensor) -> torch.Tensor:
    """w_ij += (x_i x_j − x_i h_ji − h_ij x_j) / D with h_ij = Σ_{k≠i,j} w_ik x_k, one pattern at a time."""
    count, dim = X.shape
    W = torch.zeros(dim, dim, dtype=X.dtype)
    for n in range(count):
        x = X[n]
        h = torch.zeros(dim, dim, dtype=X.dtype)
        for i in range(dim):
            for j in range(dim):
                h[i, j] = sum(W[i, k] * x[k] for k in range(dim) if k not in (i, j))
        new = W.clone()
        for i in range(dim):
            for j in range(dim):
                if i != j:
                    new[i, j] = W[i, j] + (x[i] * x[j] - x[i] * h[j, i] - h[i, j] * x[j]) / dim
        W = new
    return W


def test_storkey_matches_the_textbook_rule() -> None:
    X = random_binary_patterns(2, 4, 7).double()
    W = storkey(X)
    for b in range(2):
        torch.testing.assert_close(W[b], _storkey_reference(X[b]))


def test_pseudo_inverse_is_the_projection_onto_the_stored_patterns() -> None:
    X = random_binary_patterns(2, 20, 64).double()
    projection = X.transpose(1, 2) @ torch.linalg.inv(X @ X.transpose(1, 2)) @ X
    torch.testing.assert_close(pseudo_inverse(X), projection - torch.diag_embed(torch.diagonal(projection, 0, 1, 2)))


@pytest.mark.parametrize("rule", sorted(LEARNING_RULES))
def test_weights_are_symmetric_with_zero_diagonal_and_ignore_padding(rule: str) -> None:
    X = random_binary_patterns(3, 10, 32).double()
    W = LEARNING_RULES[rule](X)
    torch.testing.assert_close(W, W.transpose(1, 2))
    assert torch.equal(torch.diagonal(W, 0, 1, 2), torch.zeros(3, 32, dtype=W.dtype))
    padded = torch.cat([X, torch.zeros_like(X[:, :4])], dim=1)
    torch.testing.assert_close(LEARNING_RULES[rule](padded), W)
