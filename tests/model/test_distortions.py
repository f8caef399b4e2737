"""Distortions: exact counts, the right entries marked known, seedable."""

from __future__ import annotations

import torch

from model.distortions import erase, erase_and_flip, flip, gaussian_noise, occlude, salt_and_pepper
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


def test_erase_and_flip_erases_and_flips_disjoint_entries() -> None:
    X = random_binary_patterns(4, 5, 128)
    Q, known = erase_and_flip(X, 32, 8, torch.Generator().manual_seed(2))
    assert ((Q == 0).sum(-1) == 32).all()
    assert ((Q == -X).sum(-1) == 8).all()  # flipped among the entries that were not erased
    assert ((Q == X).sum(-1) == 128 - 40).all() and not known.any()


def test_gaussian_noise_has_the_stated_spread() -> None:
    X = torch.zeros(64, 32, 64)
    noisy, known = gaussian_noise(X, 0.2, generator=torch.Generator().manual_seed(0))
    assert abs(float(noisy.std()) - 0.2) < 0.005 and abs(float(noisy.mean())) < 0.005 and not known.any()


def test_salt_and_pepper_hits_the_stated_fraction_with_the_range_ends() -> None:
    X = torch.full((64, 16, 1, 8, 8), 0.5)
    Q, known = salt_and_pepper(X, 0.1, (0.0, 1.0), torch.Generator().manual_seed(0))
    hit = Q != X
    assert abs(float(hit.float().mean()) - 0.1) < 0.01 and not known.any()
    assert set(Q[hit].unique().tolist()) == {0.0, 1.0}
    assert abs(float((Q[hit] == 1.0).float().mean()) - 0.5) < 0.05  # salt and pepper alike
