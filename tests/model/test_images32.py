"""The 32×32 presets (the paper's image scale) train and benchmark end to end on a tiny built glyph set."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import orjson
import pytest
from typer.testing import CliRunner

from ebmm.cli import app
from model.config import PRESETS
from model.data.built import save_built
from model.data.datasets import PRESET_DATASETS
from model.data.glyphs import build_glyphs, collect_scripts
from model.memory import EnergyMemory

DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@pytest.mark.parametrize(
    ("preset", "budget"),
    [
        ("glyphs32-fc4", 4 * 1024 + 4),
        ("glyphs32-fc16", 16 * 1024 + 16),
        ("glyphs32-conv", 64 * 25 + 64),
        ("photos32-fc4", 4 * 3072 + 4),
        ("photos32-fc16", 16 * 3072 + 16),
        ("photos32-conv", 64 * 75 + 64),
    ],
)
def test_presets_at_the_papers_scale(preset: str, budget: int) -> None:
    config = PRESETS[preset]()
    assert EnergyMemory(config).writable_numel == budget and budget >= config.input_dim  # at least one image
    assert config.input_shape[1:] == (32, 32) and config.distortion_size == 16 and config.max_patterns == 64
    assert PRESET_DATASETS[preset] == preset.split("-")[0] and config.quadratic_energy


@pytest.mark.parametrize(("preset", "budget"), [("glyphs32-subspace4", 4 * 1024), ("glyphs32-subspace16", 16 * 1024)])
def test_subspace_presets_at_the_papers_scale(preset: str, budget: int) -> None:
    config = PRESETS[preset]()
    assert EnergyMemory(config).writable_numel == budget and config.energy == "subspace"
    assert config.input_shape == (1, 32, 32) and config.distortion_size == 16 and config.max_patterns == 64
    assert PRESET_DATASETS[preset] == "glyphs32"


@pytest.mark.parametrize(
    ("preset", "family", "flags"),
    [
        ("glyphs32-fc4", "EBMM fc", ["--meta-hidden", "16", "--quadratic-rank", "4"]),
        ("glyphs32-subspace4", "EBMM subspace", ["--read-steps", "3"]),
    ],
)
def test_train_and_bench_a_32px_preset(tmp_path: Path, preset: str, family: str, flags: list[str]) -> None:
    scripts = collect_scripts([(DEJAVU, None)], max_characters=20, min_characters=3)
    save_built(tmp_path, "glyphs32", build_glyphs(scripts, renderings=4, test_fraction=0.34), {"seed": 0})
    runner = CliRunner()
    checkpoint = tmp_path / "run"
    options = ["--preset", preset, "--data-root", str(tmp_path), "--steps", "2", "--batch", "2"]
    options += ["--max-patterns", "4", *flags, "--eval-every", "1000"]
    train = runner.invoke(app, ["train", *options, "--device", "cpu", "--out", str(checkpoint)])
    assert train.exit_code == 0, train.output
    assert (checkpoint / "train_state.pt").is_file()  # resumable

    json_path, plot = tmp_path / "bench.json", tmp_path / "bench.png"
    options = ["--dataset", "glyphs32", "--data-root", str(tmp_path), "--checkpoint", str(checkpoint)]
    options += ["--budgets", "1024,4100", "--counts", "1,4", "--memories", "2", "--device", "cpu"]
    bench = runner.invoke(app, ["bench", "images", *options, "--json", str(json_path), "--plot", str(plot)])
    assert bench.exit_code == 0, bench.output
    result = orjson.loads(json_path.read_bytes())
    assert result["occlusion"] == 16 and result["image_shape"] == [1, 32, 32] and result["budgets"] == [1024, 4100]
    families = {method["family"] for method in result["methods"].values()}
    assert {family, "projection Hopfield", "modern Hopfield", "Gaussian prior"} <= families
    for png in (plot, tmp_path / "bench-floats.png", tmp_path / "bench-examples.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
