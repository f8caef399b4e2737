"""Image tasks: each memory holds distinct images of one split, reproducibly."""

from __future__ import annotations

import pytest
import torch

from model.data.sampler import image_source


def test_each_memory_holds_distinct_images() -> None:
    images = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1).expand(50, 1, 2, 2)
    X = image_source(images)(6, 20, torch.Generator().manual_seed(0))
    assert X.shape == (6, 20, 1, 2, 2)
    ids = X[..., 0, 0, 0]  # [6, 20]
    assert all(len(set(row.tolist())) == 20 for row in ids)
    assert len({tuple(row.tolist()) for row in ids}) == 6  # memories differ


def test_same_seed_same_tasks() -> None:
    images = torch.rand(30, 3, 4, 4)
    draw = image_source(images)
    a = draw(2, 5, torch.Generator().manual_seed(3))
    b = draw(2, 5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="distinct"):
        draw(1, 31, torch.Generator())
