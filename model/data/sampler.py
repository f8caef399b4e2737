"""Image memory tasks: each memory stores a set of distinct images drawn from one split of a data set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from model.data.datasets import load_images


def image_source(images: Tensor) -> Callable[[int, int, torch.Generator], Tensor]:
    """images: [P, C, H, W] -> draw(memories B, count N, generator) -> X: [B, N, C, H, W].

    Each memory gets N different images, chosen uniformly without replacement and independently per memory.
    """

    def draw(memories: int, count: int, generator: torch.Generator) -> Tensor:
        if count > len(images):
            raise ValueError(f"cannot draw {count} distinct images from {len(images)}")
        scores = torch.rand(memories, len(images), generator=generator)
        return images[scores.topk(count, dim=1).indices]

    return draw


def split_sources(
    dataset: str, root: str | Path | None = None
) -> tuple[Callable[[int, int, torch.Generator], Tensor], Callable[[int, int, torch.Generator], Tensor]]:
    """(train source, held-out test source) of an image data set, each as made by `image_source`."""
    return image_source(load_images(dataset, "train", root)), image_source(load_images(dataset, "test", root))
