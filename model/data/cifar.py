"""CIFAR-10 (Krizhevsky, 2009) from a local copy of its python version (`cifar-10-python.tar.gz`, extracted).

    ROOT/cifar-10-batches-py/data_batch_1 … data_batch_5   (train, 10 000 images each)
    ROOT/cifar-10-batches-py/test_batch                    (test)

Each batch is a pickled dict whose b"data" is uint8 [10000, 3072]: per image 1024 red, then 1024 green,
then 1024 blue values, each a 32×32 image in row-major order. Only numpy arrays and bytes are unpickled.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

BATCH_DIR = "cifar-10-batches-py"
SPLIT_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),  # bytes objects in protocol-2 pickles written by python 3
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Refuses every global but those needed to rebuild a numpy array."""

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"CIFAR batch refers to {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: str | Path) -> dict[bytes, object]:
    """One pickled batch as its dict (keys are bytes, as written by python 2)."""
    with open(path, "rb") as handle:
        return _ArrayUnpickler(handle, encoding="bytes").load()


def load_cifar10(root: str | Path, split: str = "train") -> Tensor:
    """The images of a split: [N, 3, 32, 32] in [0, 1]. `root` may also be the batch directory itself."""
    root = Path(root)
    directory = root / BATCH_DIR if (root / BATCH_DIR).is_dir() else root
    missing = [name for name in SPLIT_FILES[split] if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 batches {missing} not found in {directory}")
    data = np.concatenate([np.asarray(read_batch(directory / name)[b"data"]) for name in SPLIT_FILES[split]])
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
