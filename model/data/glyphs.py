"""`glyphs32`: 32×32 greyscale characters of many writing systems, *rendered* from fonts (not handwritten).

An Omniglot-like task that installs from a package registry: Debian's `fonts-noto-core` has one font per
script (Adlam … Zanabazar Square, 100+), and its NotoSans-Regular covers Latin, Greek and Cyrillic. Each
letter (Unicode category Lu, Ll or Lo) a font maps is drawn a few times (`renderings`), alternating the
regular and bold weight, each time with a small random rotation, scale and shift, as ink (1) on paper (0),
like the inverted Omniglot drawings. These are typeset shapes with geometric jitter, not the 20 human
drawings per character that Omniglot has.

As Omniglot holds out whole alphabets (its 20 "evaluation" alphabets), whole scripts are held out here:
a seeded shuffle of the scripts puts `test_fraction` of them in the test split, so no test character comes
from a script seen in training.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from model.data.built import BuiltSplit

NOTO_DIR = Path("/usr/share/fonts/truetype/noto")
# NotoSans<Family>-Regular fonts that are not a script's letters, or repeat another font's letters.
SKIPPED_FAMILIES = ("Display", "Math", "Mono", "Symbols", "MayanNumerals", "IndicSiyaqNumbers", "SignWriting",
                    "AdlamUnjoined", "TamilSupplement", "TifinaghA", "TifinaghG", "TifinaghH", "TifinaghR",
                    "TifinaghS", "TifinaghT")  # fmt: skip
LETTERS = ("Lu", "Ll", "Lo")
MULTI_SCRIPT = ("LATIN", "GREEK", "CYRILLIC")  # the core font's scripts, by the first word of a letter's name


@dataclass(frozen=True)
class Script:
    """A writing system: its name, its regular (and bold, if any) font, and the letters drawn from it."""

    name: str
    font: Path
    bold: Path | None
    characters: tuple[str, ...]


def noto_fonts(font_dir: Path = NOTO_DIR) -> list[tuple[Path, str | None]]:
    """(font, family) of each Noto font to draw from; family None: the multi-script NotoSans-Regular."""
    core = font_dir / "NotoSans-Regular.ttf"
    if not core.is_file():
        raise FileNotFoundError(f"{core} missing: install Debian's fonts-noto-core (scripts/ensure-image-data.sh)")
    fonts: list[tuple[Path, str | None]] = [(core, None)]
    for path in sorted(font_dir.glob("NotoSans?*-Regular.ttf")):
        family = path.name.removeprefix("NotoSans").removesuffix("-Regular.ttf")
        if not family.startswith(SKIPPED_FAMILIES):
            fonts.append((path, family))
    return fonts


def font_letters(path: Path) -> list[str]:
    """The letters a font maps to a glyph, in code point order."""
    with TTFont(path, lazy=True) as font:
        codes = sorted(font.getBestCmap() or {})
    return [chr(code) for code in codes if unicodedata.category(chr(code)) in LETTERS]


def collect_scripts(
    fonts: Sequence[tuple[Path, str | None]], max_characters: int = 40, min_characters: int = 10, seed: int = 0
) -> list[Script]:
    """The scripts of `fonts`, each with up to `max_characters` letters (a seeded choice) and at least
    `min_characters`. A multi-script font (family None) gives one script per first word of its letters'
    Unicode names among MULTI_SCRIPT (Latin, Greek, Cyrillic); a letter an earlier font took is not drawn again."""
    taken: set[str] = set()
    grouped: dict[str, tuple[Path, list[str]]] = {}
    for path, family in fonts:
        for char in font_letters(path):
            first = unicodedata.name(char, "?").split()[0]
            if char in taken or (family is not None) == (first in MULTI_SCRIPT):
                continue
            name = first.title() if family is None else family
            grouped.setdefault(name, (path, []))[1].append(char)
            taken.add(char)
    scripts = []
    for name, (path, chars) in sorted(grouped.items()):
        if len(chars) < min_characters:
            continue
        chosen = sorted(random.Random(f"{seed}:{name}").sample(chars, min(max_characters, len(chars))))
        bold = path.with_name(path.name.replace("-Regular", "-Bold"))
        has_bold = "-Regular" in path.name and bold.is_file()
        scripts.append(Script(name, path, bold if has_bold else None, tuple(chosen)))
    return scripts


def render_glyph(font: ImageFont.FreeTypeFont, char: str, size: int, rng: random.Random) -> np.ndarray | None:
    """One drawing of `char`: float32 [size, size], ink 1 on 0, fitted into ~80 % of the square with a random
    rotation (±8°), scale (85–100 %) and shift (±2 px); None when the font draws nothing."""
    canvas = Image.new("L", (8 * size, 8 * size), 0)
    ImageDraw.Draw(canvas).text((4 * size, 4 * size), char, fill=255, font=font, anchor="mm")
    box = canvas.getbbox()
    if box is None:
        return None
    glyph = canvas.crop(box).rotate(rng.uniform(-8.0, 8.0), Image.Resampling.BILINEAR, expand=True)
    scale = 0.8 * size * rng.uniform(0.85, 1.0) / max(glyph.size)
    width, height = max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))
    glyph = glyph.resize((width, height), Image.Resampling.LANCZOS)
    out = Image.new("L", (size, size), 0)
    left = (size - width) // 2 + rng.randint(-2, 2)
    top = (size - height) // 2 + rng.randint(-2, 2)
    out.paste(glyph, (min(max(left, 0), size - width), min(max(top, 0), size - height)))
    pixels = np.asarray(out, dtype=np.float32) / 255.0
    return pixels if pixels.sum() >= 4.0 else None


def render_script(script: Script, size: int = 32, renderings: int = 4, seed: int = 0) -> np.ndarray:
    """Every letter of a script drawn `renderings` times: uint8 [letters · renderings, 1, size, size]."""
    fonts = [ImageFont.truetype(str(path), 6 * size) for path in (script.font, script.bold) if path is not None]
    rng = random.Random(f"{seed}:{script.name}:render")
    images = []
    for char in script.characters:
        for index in range(renderings):
            pixels = render_glyph(fonts[index % len(fonts)], char, size, rng)
            if pixels is not None:
                images.append(np.round(pixels * 255.0).astype(np.uint8))
    return np.stack(images)[:, None] if images else np.zeros((0, 1, size, size), np.uint8)


def build_glyphs(
    scripts: Sequence[Script], size: int = 32, renderings: int = 4, test_fraction: float = 0.4, seed: int = 0
) -> dict[str, BuiltSplit]:
    """Render every script and split by script: {"train", "test"} -> BuiltSplit of uint8 [N, 1, size, size],
    `groups` indexing the split's scripts. The test scripts: the first `test_fraction` of a seeded shuffle."""
    names = sorted(script.name for script in scripts)
    random.Random(seed).shuffle(names)
    held_out = set(names[: max(1, round(test_fraction * len(names)))])
    splits = {}
    for split in ("train", "test"):
        chosen = [script for script in scripts if (script.name in held_out) == (split == "test")]
        rendered = [torch.from_numpy(render_script(script, size, renderings, seed)) for script in chosen]
        groups = [torch.full((len(r),), index, dtype=torch.int32) for index, r in enumerate(rendered)]
        splits[split] = BuiltSplit(torch.cat(rendered), torch.cat(groups), tuple(script.name for script in chosen))
    return splits
