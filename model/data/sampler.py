"""Image memory tasks: each memory stores a set of distinct images drawn from one split of a data set."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


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
