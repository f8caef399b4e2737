"""The Omniglot loader reads the released directory layout: 105×105 black-on-white PNGs, ink becomes 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.data.omniglot import load_omniglot, omniglot_paths


def _write_drawing(path: Path, ink_rows: slice) -> None:
    """A 1-bit 105×105 drawing, white with a black band over `ink_rows` (as in the released PNGs)."""
    pixels = np.ones((105, 105), dtype=bool)
    pixels[ink_rows] = False
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert("1").save(path)


@pytest.fixture
def omniglot_root(tmp_path: Path) -> Path:
    for alphabet in ("Greek", "Alphabet_of_the_Magi"):
        for character in ("character01", "character02"):
            for drawer in (1, 2):
                name = f"{alphabet}/{character}/0{drawer}_{drawer:02d}.png"
                band = slice(0, 21) if alphabet == "Greek" else slice(84, 105)
                _write_drawing(tmp_path / "images_background" / name, band)
    _write_drawing(tmp_path / "images_evaluation/Tengwar/character01/0001_01.png", slice(42, 63))
    return tmp_path


def test_layout_is_read_in_sorted_order(omniglot_root: Path) -> None:
    paths = omniglot_paths(omniglot_root, "train")
    assert len(paths) == 8
    assert [p.parent.parent.name for p in paths] == ["Alphabet_of_the_Magi"] * 4 + ["Greek"] * 4


def test_drawings_become_ink_intensities(omniglot_root: Path) -> None:
    images = load_omniglot(omniglot_root, "train", size=35)  # 105 = 3·35: box resizing is exact
    assert images.shape == (8, 1, 35, 35) and images.dtype == torch.float32
    magi, greek = images[0, 0], images[4, 0]
    assert torch.equal(greek[:7], torch.ones(7, 35)) and torch.equal(greek[7:], torch.zeros(28, 35))
    assert torch.equal(magi[28:], torch.ones(7, 35)) and torch.equal(magi[:28], torch.zeros(28, 35))


def test_test_split_is_the_evaluation_alphabets(omniglot_root: Path) -> None:
    images = load_omniglot(omniglot_root, "test", size=35)
    assert images.shape == (1, 1, 35, 35) and images[0, 0, 14:21].eq(1).all() and images[0, 0, :14].eq(0).all()


def test_missing_split_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="images_background"):
        load_omniglot(tmp_path, "train")
