"""Distortions: exact counts, the right entries marked known, seedable."""

from __future__ import annotations

import torch

from model.distortions import erase, flip, gaussian_noise, occlude
from model.tasks import random_binary_patterns


def test_erase_sets_exactly_k_entries_to_zero() -> None:
    X = random_binary_patterns(4, 5, 128)
    Q, known = erase(X, 64, torch.Generator().manual_seed(1))
    assert ((Q == 0).sum(-1) == 64).all()
    assert torch.equal(Q[known], X[known]) and (~known).sum(-1).eq(64).all()


def test_flip_changes_exactly_k_signs() -> None:
    X = random_binary_patterns(4, 5, 128)
    Q, known = flip(X, 10)
    assert ((Q != X).sum(-1) == 10).all() and not known.any()


def test_occlusion_is_one_square_block_per_image() -> None:
    X = torch.rand(3, 2, 3, 32, 32)
    Q, known = occlude(X, 16, fill=0.5, generator=torch.Generator().manual_seed(0))
    hidden = ~known
    assert hidden.sum(dim=(-1, -2, -3)).eq(3 * 16 * 16).all()
    for image_mask in hidden.reshape(-1, 3, 32, 32):
        rows = image_mask[0].any(1).nonzero().flatten()
        cols = image_mask[0].any(0).nonzero().flatten()
        assert len(rows) == len(cols) == 16 and rows.diff().eq(1).all() and cols.diff().eq(1).all()
        assert torch.equal(image_mask[0], image_mask[2])
    assert (Q[hidden] == 0.5).all() and torch.equal(Q[known], X[known])


def test_gaussian_noise_is_clamped_and_seedable() -> None:
    X = torch.rand(2, 3, 10)
    a, _ = gaussian_noise(X, 0.5, (0.0, 1.0), torch.Generator().manual_seed(3))
    b, _ = gaussian_noise(X, 0.5, (0.0, 1.0), torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, X)


def test_same_seed_same_distortion() -> None:
    X = random_binary_patterns(2, 3, 64)
    a, _ = erase(X, 20, torch.Generator().manual_seed(7))
    b, _ = erase(X, 20, torch.Generator().manual_seed(7))
    c, _ = erase(X, 20, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
