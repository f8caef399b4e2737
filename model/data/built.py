"""Data sets built by a command (`ebmm data build NAME`) into a local folder, never at import time.

A built set lives in ROOT/NAME/ (ROOT defaults to `data/`, which git ignores):

    train.safetensors, test.safetensors   images: uint8 [N, C, H, W]; groups: int32 [N], the source of each
                                          image (a photograph, a script) as an index into the manifest's list
    manifest.json                         what was built from what: the sources of each split, the inputs'
                                          and the outputs' SHA-256, the seed, the builder's settings

Images are stored as bytes (0–255) and served as floats in [0, 1].
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

DEFAULT_ROOT = Path("data")
SPLITS = ("train", "test")


@dataclass(frozen=True)
class BuiltSplit:
    """One split of a built set: images uint8 [N, C, H, W] and the index of each image's source, int32 [N]."""

    images: Tensor
    groups: Tensor
    sources: tuple[str, ...]  # groups index into this

    def sha256(self) -> str:
        """A hash of the split's bytes: equal builds give equal hashes."""
        digest = hashlib.sha256(self.images.contiguous().numpy().tobytes())
        digest.update(self.groups.contiguous().numpy().tobytes())
        digest.update("\n".join(self.sources).encode())
        return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_built(root: Path, name: str, splits: dict[str, BuiltSplit], manifest: dict[str, Any]) -> Path:
    """Write ROOT/NAME/{train,test}.safetensors and manifest.json (with each split's sources, size and hash)."""
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    summary = {}
    for split, data in splits.items():
        save_file(
            {"images": data.images.contiguous(), "groups": data.groups.contiguous()}, directory / f"{split}.safetensors"
        )
        summary[split] = {"images": len(data.images), "sha256": data.sha256(), "sources": list(data.sources)}
    document = {"name": name, **manifest, "splits": summary}
    (directory / "manifest.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return directory


def read_manifest(name: str, root: Path | None = None) -> dict[str, Any]:
    """The manifest of a built set."""
    path = (root or DEFAULT_ROOT) / name / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"data set {name!r} is not built at {path.parent}: run `ebmm data build {name}`")
    return orjson.loads(path.read_bytes())


def load_built_split(name: str, split: str, root: Path | None = None) -> BuiltSplit:
    """One split of a built set as stored (uint8 images, group indices, source names)."""
    manifest = read_manifest(name, root)
    tensors = load_file((root or DEFAULT_ROOT) / name / f"{split}.safetensors")
    return BuiltSplit(tensors["images"], tensors["groups"], tuple(manifest["splits"][split]["sources"]))


def load_built(name: str, split: str, root: Path | None = None) -> Tensor:
    """The images of one split of a built set: [N, C, H, W] float in [0, 1]."""
    return load_built_split(name, split, root).images.to(torch.float32) / 255.0


def to_bytes(images: Tensor) -> Tensor:
    """Float images in [0, 1] -> uint8 (rounded)."""
    return (images.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
