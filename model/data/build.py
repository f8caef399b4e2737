"""The built data sets by name: what `ebmm data build NAME` runs and records in the set's manifest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from model.data.built import BuiltSplit, file_sha256, read_manifest, save_built
from model.data.glyphs import build_glyphs, collect_scripts, noto_fonts
from model.data.photos import DEBIAN_PACKAGES, TEST_PHOTOS, build_photo_patches, registry_photos


def _photos32(seed: int) -> tuple[dict[str, BuiltSplit], dict[str, Any]]:
    """Patches of the registry photographs (deterministic: the grid and the held-out list are fixed)."""
    photos = registry_photos()
    settings = {"size": 32, "short_side": 256, "min_std": 0.04}
    splits = build_photo_patches(photos, TEST_PHOTOS, **settings)
    manifest = {
        "description": "32×32 colour patches of photographs, held out by photograph",
        "packages": {"debian": list(DEBIAN_PACKAGES), "pypi": ["scikit-image"]},
        "settings": {**settings, "stride": settings["size"] // 2},  # cut_patches' grid
        "inputs": {photo.name: photo.fingerprint() for photo in photos},
    }
    return splits, manifest


def _glyphs32(seed: int) -> tuple[dict[str, BuiltSplit], dict[str, Any]]:
    """Letters of the Noto fonts' scripts; `seed` picks each script's letters, the jitter and the test scripts."""
    fonts = noto_fonts()
    chosen = {"max_characters": 40, "min_characters": 10}
    drawn = {"size": 32, "renderings": 4, "test_fraction": 0.4}
    scripts = collect_scripts(fonts, **chosen, seed=seed)
    splits = build_glyphs(scripts, **drawn, seed=seed)
    manifest = {
        "description": "32×32 letters of many scripts RENDERED from Debian's fonts-noto-core (not handwritten), "
        "4 jittered renderings per letter (regular and bold weights), held out by script",
        "packages": {"debian": ["fonts-noto-core"]},
        "settings": {**drawn, **chosen},
        "characters": {script.name: "".join(script.characters) for script in scripts},
        "inputs": {path.name: file_sha256(path) for path, _ in fonts},
    }
    return splits, manifest


BUILDERS: dict[str, Callable[[int], tuple[dict[str, BuiltSplit], dict[str, Any]]]] = {
    "photos32": _photos32,
    "glyphs32": _glyphs32,
}


def build(name: str, root: Path, seed: int = 0) -> dict[str, Any]:
    """Build data set `name` into ROOT/NAME/ and return its manifest (the same inputs and seed give the same
    bytes, so the same `sha256` per split)."""
    splits, manifest = BUILDERS[name](seed)
    directory = save_built(root, name, splits, {**manifest, "seed": seed})
    return read_manifest(directory.name, directory.parent)
