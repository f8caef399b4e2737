"""Natural colour patches cut from the photographs scikit-image ships (`skimage.data`), no download.

Each source photograph is downscaled so that its shorter side is `short_side` pixels (so a patch holds a
recognisable piece of a scene rather than a flat region) and cut into size×size patches on a grid of stride
size/2; nearly flat patches (pixel std < `min_std`) are dropped. The split is by source photograph, so no
test patch overlaps a training photograph.
"""

from __future__ import annotations

import functools

import numpy as np
import skimage.data
import torch
from PIL import Image
from torch import Tensor

TRAIN_SOURCES = ("astronaut", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "stereo_motorcycle")
TEST_SOURCES = ("chelsea", "rocket")


def source_photo(name: str) -> np.ndarray:
    """A bundled RGB photograph: uint8 [H, W, 3] (the left view of the stereo pair)."""
    photo = getattr(skimage.data, name)()
    return photo[0] if isinstance(photo, tuple) else photo


def cut_patches(photo: np.ndarray, size: int, short_side: int) -> Tensor:
    """photo: uint8 [H, W, 3] -> all size×size patches of the downscaled photo at stride size/2: [N, 3, size, size]."""
    height, width = photo.shape[:2]
    scale = short_side / min(height, width)
    resized = Image.fromarray(photo).resize((round(width * scale), round(height * scale)), Image.Resampling.LANCZOS)
    image = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)  # [3, H', W']
    stride = size // 2
    grid = image.unfold(1, size, stride).unfold(2, size, stride)  # [3, rows, cols, size, size]
    return grid.permute(1, 2, 0, 3, 4).reshape(-1, 3, size, size).contiguous()


@functools.cache
def photo_patches(name: str, size: int, short_side: int) -> Tensor:
    """The patches of one source photograph, cut once per process (resizing the large photographs is slow)."""
    return cut_patches(source_photo(name), size, short_side)


def load_patches(split: str = "train", size: int = 16, short_side: int = 128, min_std: float = 0.04) -> Tensor:
    """The patches of a split: [N, 3, size, size] in [0, 1]."""
    sources = TEST_SOURCES if split == "test" else TRAIN_SOURCES
    patches = torch.cat([photo_patches(name, size, short_side) for name in sources])
    return patches[patches.flatten(1).std(1) >= min_std]
