"""The built 32×32 sets: glyphs rendered from a font and photo patches, each split by source, reproducibly."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from model.data.built import load_built, load_built_split, read_manifest, save_built
from model.data.datasets import load_images
from model.data.glyphs import build_glyphs, collect_scripts, render_script
from model.data.patches import cut_patches
from model.data.photos import LOMIRI_1604, MATE_NATURE, SKIMAGE, TEST_PHOTOS, Photo, build_photo_patches

# A font every install has (matplotlib ships it): Latin, Greek and Cyrillic letters, one script each.
DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@pytest.fixture(scope="module")
def scripts() -> list:
    return collect_scripts([(DEJAVU, None)], max_characters=5, min_characters=3)


def test_a_multi_script_font_gives_one_script_per_writing_system(scripts: list) -> None:
    assert [script.name for script in scripts] == ["Cyrillic", "Greek", "Latin"]
    assert all(len(script.characters) == 5 for script in scripts)
    greek = next(script for script in scripts if script.name == "Greek")
    assert all(0x370 <= ord(char) < 0x400 or 0x1F00 <= ord(char) < 0x2000 for char in greek.characters)


def test_glyphs_are_ink_on_paper_and_differ_between_renderings(scripts: list) -> None:
    images = render_script(scripts[0], size=32, renderings=2)
    assert images.shape == (10, 1, 32, 32) and images.dtype == np.uint8
    ink = images.reshape(10, -1).astype(np.float32) / 255.0
    assert (ink.sum(1) > 10).all() and (ink.mean(1) < 0.5).all()  # mostly paper (0), some ink (1)
    rows = (ink.reshape(10, 32, 32).sum(2) * np.arange(32)).sum(1) / ink.sum(1)  # each drawing's centre of ink
    assert (np.abs(rows - 15.5) < 6).all()
    assert not np.array_equal(images[0], images[1])  # the two renderings of one letter are jittered


def test_glyphs_are_split_by_script_and_rebuild_identically(scripts: list) -> None:
    splits = build_glyphs(scripts, renderings=2, test_fraction=0.34, seed=0)
    assert len(splits["test"].sources) == 1 and len(splits["train"].sources) == 2
    assert not set(splits["train"].sources) & set(splits["test"].sources)
    for data in splits.values():
        assert data.images.shape[1:] == (1, 32, 32) and len(data.groups) == len(data.images)
        assert set(data.groups.tolist()) == set(range(len(data.sources)))
    again = build_glyphs(scripts, renderings=2, test_fraction=0.34, seed=0)
    assert again["train"].sha256() == splits["train"].sha256() and again["test"].sha256() == splits["test"].sha256()
    assert build_glyphs(scripts, renderings=2, test_fraction=0.34, seed=1)["train"].sha256() != splits["train"].sha256()


def _photo(path: Path, seed: int) -> Photo:
    """A 96×160 'photograph': a colour gradient plus texture, saved as PNG."""
    rows, cols = np.mgrid[0:96, 0:160]
    texture = np.random.default_rng(seed).integers(0, 60, (96, 160, 3))
    pixels = np.stack([rows * 2, cols, (rows + cols) % 200], -1) + texture
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)
    return Photo(f"test:{path.stem}", path)


def test_photo_patches_are_split_by_photograph(tmp_path: Path) -> None:
    photos = [_photo(tmp_path / f"p{i}.png", i) for i in range(3)]
    splits = build_photo_patches(photos, ["test:p1"], size=32, short_side=96, min_std=0.0)
    assert splits["test"].sources == ("test:p1",) and splits["train"].sources == ("test:p0", "test:p2")
    per_photo = 5 * 9  # a 96×160 photo on a stride-16 grid of 32×32 patches
    assert splits["test"].images.shape == (per_photo, 3, 32, 32) and len(splits["train"].images) == 2 * per_photo
    expected = cut_patches(photos[1].pixels(), 32, 96)
    torch.testing.assert_close(splits["test"].images.float() / 255, expected, atol=0.5 / 255, rtol=0)
    assert splits["train"].groups.tolist() == [0] * per_photo + [1] * per_photo
    with pytest.raises(ValueError, match="not among the sources"):
        build_photo_patches(photos, ["test:p9"])


def test_the_registry_holds_out_whole_photographs_from_every_source() -> None:
    names = (
        {f"mate:{n}" for n in MATE_NATURE} | {f"lomiri:{n}" for n in LOMIRI_1604} | {f"skimage:{n}" for n in SKIMAGE}
    )
    assert set(TEST_PHOTOS) <= names and 0.15 < len(TEST_PHOTOS) / len(names) < 0.35
    assert {name.split(":")[0] for name in TEST_PHOTOS} == {"mate", "lomiri", "skimage"}


def test_a_built_set_is_served_by_load_images(tmp_path: Path, scripts: list) -> None:
    with pytest.raises(FileNotFoundError, match="ebmm data build photos32"):
        load_images("photos32", "train", tmp_path)
    photos = [_photo(tmp_path / f"p{i}.png", i) for i in range(2)]
    save_built(tmp_path, "photos32", build_photo_patches(photos, ["test:p0"], min_std=0.0, short_side=96), {"seed": 0})
    train = load_images("photos32", "train", tmp_path)
    assert train.shape == (45, 3, 32, 32) and train.dtype == torch.float32 and float(train.min()) >= 0.0
    stored = load_built_split("photos32", "train", tmp_path)
    assert stored.sources == ("test:p1",) and read_manifest("photos32", tmp_path)["splits"]["train"]["images"] == 45
    torch.testing.assert_close(load_built("photos32", "test", tmp_path), load_images("photos32", "test", tmp_path))
