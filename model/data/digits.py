"""scikit-learn's bundled handwritten digits (UCI optical digits): 1797 greyscale 8×8 images, no download.

The split is a fixed random permutation: a quarter of the images are held out for testing.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits as _sklearn_digits
from torch import Tensor

TEST_FRACTION = 0.25
SPLIT_SEED = 0


def load_digits(split: str = "train", size: int = 8) -> Tensor:
    """The digits of a split: [N, 1, size, size] in [0, 1] (bilinearly upsampled when size > 8)."""
    images = torch.from_numpy(_sklearn_digits().images.astype(np.float32) / 16.0).unsqueeze(1)  # [1797, 1, 8, 8]
    order = torch.from_numpy(np.random.RandomState(SPLIT_SEED).permutation(len(images)))
    held_out = round(TEST_FRACTION * len(images))
    chosen = order[:held_out] if split == "test" else order[held_out:]
    images = images[chosen.sort().values]
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    return images
