"""`photos32`: 32×32 colour patches of real photographs that install from package registries, split by photograph.

Sources (all photographs, checked by eye; licences from each package's copyright file):
- Debian `mate-backgrounds`, its `nature/` set: 12 photographs (GPL-2+);
- Debian `lomiri-wallpapers-16.04`: 13 photographs (CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0; its abstract
  `analogpattern` and `umang` are left out);
- Debian `lomiri-wallpapers-20.04`: `Kleiber` (CC-BY-SA-3.0; the others there are illustrations);
- the 8 photographs scikit-image bundles (`skimage.data`, as `patches16` uses).

Each photograph is cut by `model.data.patches.cut_patches` (downscaled to a shorter side of `short_side`
pixels, patches on a grid of stride size/2), nearly flat patches dropped. Whole photographs are held out:
no test patch comes from a photograph any training patch comes from (CIFAR-10's test images are likewise
other photographs than its training images).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model.data.built import BuiltSplit, file_sha256, to_bytes
from model.data.patches import cut_patches, source_photo

BACKGROUNDS = Path("/usr/share/backgrounds")
MATE_NATURE = (
    "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow",
    "LadyBird", "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower",
)  # fmt: skip
LOMIRI_1604 = (
    "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
    "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "free_by_Peter_Nerlich",
    "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi",
    "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi",
)  # fmt: skip
SKIMAGE = (
    "astronaut", "coffee", "hubble_deep_field", "immunohistochemistry",
    "retina", "stereo_motorcycle", "chelsea", "rocket",
)  # fmt: skip
# Held out: about a quarter of the photographs, from every package.
TEST_PHOTOS = ("mate:LadyBird", "mate:Storm", "mate:Wood", "lomiri:Bridge_by_Sander_Klootwijk",
               "lomiri:picosdeeuropa_by_Aitzol_Berasategi", "lomiri:Wine_by_Jakkub_Mede", "skimage:chelsea",
               "skimage:rocket")  # fmt: skip
DEBIAN_PACKAGES = ("mate-backgrounds", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04")


@dataclass(frozen=True)
class Photo:
    """One source photograph: `name` ("package:title") and either a file or a `skimage.data` function."""

    name: str
    path: Path | None = None

    def pixels(self) -> np.ndarray:
        """The photograph as uint8 [H, W, 3]."""
        if self.path is None:
            return source_photo(self.name.removeprefix("skimage:"))
        with Image.open(self.path) as image:
            return np.asarray(image.convert("RGB"))

    def fingerprint(self) -> str:
        """SHA-256 of the file (or of the pixels of a bundled photograph)."""
        if self.path is not None:
            return file_sha256(self.path)
        return hashlib.sha256(self.pixels().tobytes()).hexdigest()


def registry_photos(backgrounds: Path = BACKGROUNDS) -> list[Photo]:
    """All source photographs, in a fixed order; a missing Debian file raises (install scripts/ensure-image-data.sh)."""
    photos = [Photo(f"mate:{name}", backgrounds / "mate" / "nature" / f"{name}.jpg") for name in MATE_NATURE]
    photos += [Photo(f"lomiri:{name}", backgrounds / f"{name}.jpg") for name in LOMIRI_1604]
    photos.append(Photo("lomiri:Kleiber_by_Lukas_Baubkus", backgrounds / "Kleiber_by_Lukas_Baubkus.jpg"))
    missing = [str(photo.path) for photo in photos if not photo.path.is_file()]
    if missing:
        raise FileNotFoundError(f"photographs missing (Debian {', '.join(DEBIAN_PACKAGES)}): {missing[:3]} …")
    return photos + [Photo(f"skimage:{name}") for name in SKIMAGE]


def build_photo_patches(
    photos: Sequence[Photo],
    test_names: Sequence[str],
    size: int = 32,
    short_side: int = 256,
    min_std: float = 0.04,
) -> dict[str, BuiltSplit]:
    """Cut every photograph into size×size patches and split them by photograph.

    Returns {"train", "test"} -> BuiltSplit with images uint8 [N, 3, size, size]; `groups` index the split's
    photographs. Patches whose pixel std is below `min_std` are dropped.
    """
    unknown = set(test_names) - {photo.name for photo in photos}
    if unknown:
        raise ValueError(f"held-out photographs not among the sources: {sorted(unknown)}")
    splits = {}
    for split in ("train", "test"):
        chosen = [photo for photo in photos if (photo.name in test_names) == (split == "test")]
        images, groups = [], []
        for index, photo in enumerate(chosen):
            patches = cut_patches(photo.pixels(), size, short_side)
            patches = patches[patches.flatten(1).std(1) >= min_std]
            images.append(to_bytes(patches))
            groups.append(torch.full((len(patches),), index, dtype=torch.int32))
        splits[split] = BuiltSplit(torch.cat(images), torch.cat(groups), tuple(photo.name for photo in chosen))
    return splits
