"""Omniglot (Lake et al., 2015) from a local copy in its released layout.

    ROOT/images_background/<alphabet>/<character>/<drawing>.png   (the 30 "background" alphabets: train)
    ROOT/images_evaluation/<alphabet>/<character>/<drawing>.png   (the 20 "evaluation" alphabets: test)

Each drawing is a 105×105 black-on-white PNG. Images are inverted (ink = 1) and resized to size×size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

SPLIT_DIRS = {"train": "images_background", "test": "images_evaluation"}


def omniglot_paths(root: str | Path, split: str = "train") -> list[Path]:
    """The drawings of one split, sorted by alphabet, character and file name."""
    directory = Path(root) / SPLIT_DIRS[split]
    if not directory.is_dir():
        raise FileNotFoundError(f"no Omniglot {split} split at {directory}")
    return sorted(directory.glob("*/*/*.png"))


def load_omniglot(root: str | Path, split: str = "train", size: int = 32) -> Tensor:
    """All drawings of a split as ink intensities: [N, 1, size, size] in [0, 1]."""
    paths = omniglot_paths(root, split)
    if not paths:
        raise FileNotFoundError(f"no drawings under {Path(root) / SPLIT_DIRS[split]}")
    images = []
    for path in paths:
        with Image.open(path) as image:
            grey = image.convert("L").resize((size, size), Image.Resampling.BOX)
        images.append(1.0 - np.asarray(grey, dtype=np.float32) / 255.0)
    return torch.from_numpy(np.stack(images)).unsqueeze(1)
