"""The CIFAR-10 loader reads the python pickle batches: channel-major rows of 3072 bytes, bytes keys."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from model.data.cifar import load_cifar10, read_batch

PER_BATCH = 3


def _batch(offset: int) -> dict[bytes, object]:
    """PER_BATCH images whose value at (c, i, j) is (offset + n + 7c + i + 3j) mod 256, in the released format."""
    n, c, i, j = np.meshgrid(np.arange(PER_BATCH), np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    images = ((offset + n + 7 * c + i + 3 * j) % 256).astype(np.uint8)
    return {
        b"batch_label": b"training batch",
        b"labels": [offset % 10] * PER_BATCH,
        b"data": images.reshape(PER_BATCH, 3072),  # R plane, G plane, B plane, each row-major
        b"filenames": [b"x.png"] * PER_BATCH,
    }


def _expected(offset: int) -> torch.Tensor:
    n, c, i, j = torch.meshgrid(*(torch.arange(s) for s in (PER_BATCH, 3, 32, 32)), indexing="ij")
    return ((offset + n + 7 * c + i + 3 * j) % 256).float() / 255.0


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    directory = tmp_path / "cifar-10-batches-py"
    directory.mkdir()
    for index, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        with open(directory / name, "wb") as handle:
            pickle.dump(_batch(40 * index), handle, protocol=2)
    return tmp_path


def test_train_split_concatenates_the_five_batches(cifar_root: Path) -> None:
    images = load_cifar10(cifar_root, "train")
    assert images.shape == (5 * PER_BATCH, 3, 32, 32)
    for index in range(5):
        torch.testing.assert_close(images[index * PER_BATCH : (index + 1) * PER_BATCH], _expected(40 * index))


def test_test_split_and_batch_directory_as_root(cifar_root: Path) -> None:
    images = load_cifar10(cifar_root / "cifar-10-batches-py", "test")
    torch.testing.assert_close(images, _expected(200))


def test_only_numpy_arrays_are_unpickled(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Payload()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="getcwd"):
        read_batch(path)


def test_missing_batches_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_cifar10(tmp_path, "train")
