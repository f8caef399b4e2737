"""The image data sets by name: which loader, which arguments, and whether it needs a local copy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import Tensor

from model.data.built import load_built
from model.data.cifar import load_cifar10
from model.data.digits import load_digits
from model.data.omniglot import load_omniglot
from model.data.patches import load_patches

# name -> loader(split, root) -> images [N, C, H, W] in [0, 1]
DATASETS: dict[str, Callable[[str, Path | None], Tensor]] = {
    "digits": lambda split, root: load_digits(split),
    "digits16": lambda split, root: load_digits(split, size=16),
    "patches16": lambda split, root: load_patches(split, size=16, short_side=128),
    "patches32": lambda split, root: load_patches(split, size=32, short_side=256),
    "omniglot": lambda split, root: load_omniglot(_required(root, "omniglot"), split, size=32),
    "cifar10": lambda split, root: load_cifar10(_required(root, "cifar10"), split),
    # built by `ebmm data build NAME` into ROOT/NAME/ (ROOT: --data-root, default data/)
    "photos32": lambda split, root: load_built("photos32", split, root),
    "glyphs32": lambda split, root: load_built("glyphs32", split, root),
}
BUNDLED = ("digits", "digits16", "patches16", "patches32")
# The data set each image preset of model.config is trained on by default.
PRESET_DATASETS = (
    {
        "digits": "digits",
        "digits-conv": "digits",
        "digits-subspace": "digits",
        "patches16": "patches16",
    }
    | {f"glyphs32-{kind}{size}": "glyphs32" for kind in ("fc", "conv", "spectral") for size in (4, 16)}
    | {f"photos32-{kind}{size}": "photos32" for kind in ("fc", "conv", "spectral") for size in (2, 4)}
)


def _required(root: Path | None, name: str) -> Path:
    if root is None:
        raise ValueError(f"data set {name!r} is not bundled: pass the path of a local copy (--data-root)")
    return root


def load_images(name: str, split: str = "train", root: str | Path | None = None) -> Tensor:
    """The `split` ("train" or "test") of data set `name`: [N, C, H, W] in [0, 1]."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {sorted(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return DATASETS[name](split, None if root is None else Path(root))
