"""The bundled data sets: disjoint held-out splits, the documented shapes and value ranges."""

from __future__ import annotations

import pytest
import torch

from model.data.datasets import BUNDLED, load_images
from model.data.digits import load_digits
from model.data.patches import TEST_SOURCES, TRAIN_SOURCES, cut_patches, load_patches, source_photo


def test_digit_splits_partition_the_data_set() -> None:
    train, test = load_digits("train"), load_digits("test")
    assert train.shape[1:] == test.shape[1:] == (1, 8, 8) and len(train) + len(test) == 1797
    assert float(torch.cat([train, test]).min()) >= 0.0 and float(torch.cat([train, test]).max()) == 1.0
    # no held-out digit also appears in the training split
    distances = torch.cdist(test.flatten(1), train.flatten(1))
    assert (distances.min(1).values > 0).float().mean() > 0.99


def test_digits_upsample() -> None:
    small, large = load_digits("test"), load_digits("test", size=16)
    assert large.shape == (len(small), 1, 16, 16)
    torch.testing.assert_close(torch.nn.functional.avg_pool2d(large, 2).mean(), small.mean(), atol=0.02, rtol=0)


def test_patches_are_split_by_source_photograph() -> None:
    assert not set(TRAIN_SOURCES) & set(TEST_SOURCES)
    photo = source_photo("chelsea")
    patches = cut_patches(photo, 16, 128)
    rows, cols = (128 - 16) // 8 + 1, (round(photo.shape[1] * 128 / photo.shape[0]) - 16) // 8 + 1
    assert patches.shape == (rows * cols, 3, 16, 16)
    # neighbouring patches on the grid overlap by half a patch
    torch.testing.assert_close(patches[0, :, :, 8:], patches[1, :, :, :8])


def test_flat_patches_are_dropped() -> None:
    patches = load_patches("test", size=16, min_std=0.05)
    assert patches.flatten(1).std(1).min() >= 0.05 and len(patches) < len(load_patches("test", 16, min_std=0.0))


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_data_set_loads_both_splits(name: str) -> None:
    train, test = load_images(name, "train"), load_images(name, "test")
    assert train.dim() == 4 and train.shape[1:] == test.shape[1:] and len(train) > len(test) >= 64
    assert float(train.min()) >= 0.0 and float(train.max()) <= 1.0


def test_real_data_sets_need_a_path() -> None:
    with pytest.raises(ValueError, match="not bundled"):
        load_images("cifar10", "train")
    with pytest.raises(ValueError, match="unknown data set"):
        load_images("mnist")
