"""The 32×32 presets (the paper's image scale) train and benchmark end to end on a tiny built glyph set; the
shipped 32×32 checkpoints meet issue #23's targets on the built data sets (`make data`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import orjson
import pytest
import torch
from typer.testing import CliRunner

from benchmarks.images import scored_mse, tune_beta
from ebmm.cli import app
from model.baselines.images import BudgetedModernHopfield, GaussianPrior, ProjectionHopfield, WhitenedProjection
from model.config import PRESETS
from model.data.built import save_built
from model.data.datasets import PRESET_DATASETS, load_images
from model.data.glyphs import build_glyphs, collect_scripts
from model.data.sampler import image_source
from model.engine import Engine
from model.memory import EnergyMemory

DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@pytest.mark.parametrize(
    ("preset", "budget"),
    [
        ("glyphs32-conv4", 18 * 256 + 18),
        ("glyphs32-conv16", 63 * 256 + 63),
        ("photos32-conv2", 9 * 768 + 9),
        ("photos32-conv4", 18 * 768 + 18),
    ],
)
def test_conv_presets_at_the_papers_scale(preset: str, budget: int) -> None:
    """The conv energy on the spectral prior: 16×16 filters at stride 8, 9 positions, over the FC presets' k."""
    config = PRESETS[preset]()
    energy = EnergyMemory(config).energy
    assert energy.writable_numel == budget and config.energy == "conv" and config.spectral_prior
    assert energy.positions == 9 and config.writable_hidden % 9 == 0
    assert config.input_shape[1:] == (32, 32) and config.distortion_size == 16 and config.max_patterns == 64
    assert PRESET_DATASETS[preset] == preset.split("-")[0]
    assert config.basis_rank == PRESETS[preset.replace("conv", "fc")]().basis_rank


@pytest.mark.parametrize(
    ("preset", "budget"),
    [
        ("glyphs32-fc4", 32 * 128 + 32),
        ("glyphs32-fc16", 64 * 256 + 64),
        ("photos32-fc2", 12 * 512 + 12),
        ("photos32-fc4", 16 * 768 + 16),
    ],
)
def test_fc_presets_at_the_papers_scale(preset: str, budget: int) -> None:
    """The FC energy on the spectral prior, at the spectral presets' shapes (W: H × k, plus H biases)."""
    config = PRESETS[preset]()
    memory = EnergyMemory(config)
    assert memory.writable_numel == budget and config.energy == "fc" and config.spectral_prior
    assert config.input_shape[1:] == (32, 32) and config.distortion_size == 16 and config.max_patterns == 64
    assert PRESET_DATASETS[preset] == preset.split("-")[0]
    assert budget == EnergyMemory(PRESETS[preset.replace("fc", "spectral")]()).writable_numel + config.writable_hidden


@pytest.mark.parametrize(
    ("preset", "budget"),
    [
        ("glyphs32-spectral4", 4 * 1024),
        ("glyphs32-spectral16", 16 * 1024),
        ("photos32-spectral2", 2 * 3072),
        ("photos32-spectral4", 4 * 3072),
    ],
)
def test_spectral_presets_at_the_papers_scale(preset: str, budget: int) -> None:
    config = PRESETS[preset]()
    memory = EnergyMemory(config)
    assert memory.writable_numel == budget and config.energy == "spectral"
    assert config.input_shape[1:] == (32, 32) and config.distortion_size == 16 and config.max_patterns == 64
    assert PRESET_DATASETS[preset] == preset.split("-")[0]


@pytest.mark.parametrize(
    ("preset", "family", "flags"),
    [
        ("glyphs32-fc4", "EBMM fc", ["--writable-hidden", "4", "--meta-hidden", "8", "--read-steps", "3"]),
        ("glyphs32-conv4", "EBMM conv", ["--writable-hidden", "9", "--meta-hidden", "18", "--read-steps", "3"]),
        ("glyphs32-spectral4", "EBMM spectral", ["--read-steps", "3"]),
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


CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
# Each shipped 32×32 checkpoint and the fraction of the best classical memory's block MSE at N = 64 it must stay
# under on the test's 8 memories of 64 images (bench, 64 memories: the spectral ones 0.19–0.58, the FC ones
# 0.73–0.83).
SHIPPED_32PX = {
    "glyphs32-spectral4": 0.8,
    "glyphs32-spectral16": 0.8,
    "photos32-spectral2": 0.8,
    "photos32-spectral4": 0.8,
    "glyphs32-fc4": 0.95,
    "glyphs32-fc16": 0.95,
    "photos32-fc2": 0.95,
    "photos32-fc4": 0.95,
}


def _block_errors(engine: Engine, test: torch.Tensor) -> tuple[dict[int, float], tuple[torch.Tensor, ...]]:
    """Block MSE of `engine` at N = 1 on 256 memories of one `test` image and at N = 64 on 8 memories (seeded by
    N), and the N = 64 images, queries and known mask (for the classical memories to read the same). A photo
    block's error is heavy-tailed: on one draw of 64 single patches, one read at 0.075 (as the prior alone) made
    over half of `photos32-fc2`'s mean, 0.0022, twice its other draws'; 256 average such patches in."""
    errors = {}
    for count, memories in ((1, 256), (64, 8)):
        generator = torch.Generator().manual_seed(count)
        X = image_source(test)(memories, count, generator)
        Q, known = engine.domain.standard(X, generator)
        errors[count] = float(scored_mse(engine.read(engine.write(X), Q, known).patterns, X, ~known).mean())
    return errors, (X, Q, known)


@pytest.mark.parametrize(("name", "margin"), SHIPPED_32PX.items())
def test_shipped_32px_checkpoint_beats_every_classical_memory_at_its_floats(name: str, margin: float) -> None:
    """Issue #23's targets on 8 memories of 64 held-out images (held out by script / by photograph): block MSE
    below the whitened projection's, the projection network's and the budgeted modern Hopfield network's at
    the checkpoint's floats, and at N = 1 (256 memories of one image) at most half of that at N = 64 (it answers
    from its memory)."""
    engine = Engine.from_checkpoint(CHECKPOINTS / name, "cpu")
    dataset, floats = engine.config.training["settings"]["dataset"], engine.info.writable_floats
    train, test = load_images(dataset, "train"), load_images(dataset, "test")
    errors, (X, Q, known) = _block_errors(engine, test)
    beta = tune_beta(engine.domain, "occlude", train, floats, count=64, memories=4, seed=0)
    classical = [WhitenedProjection(GaussianPrior(train), floats), ProjectionHopfield(floats)]
    for memory in [*classical, BudgetedModernHopfield(floats, beta)]:
        error = float(scored_mse(memory.read(memory.write(X), Q, known), X, ~known).mean())
        assert errors[64] < margin * error, f"{name}: {errors[64]:.4f} vs {type(memory).__name__} {error:.4f}"
    assert errors[1] <= 0.5 * errors[64], errors


@pytest.mark.parametrize("name", ["glyphs32-conv4", "glyphs32-conv16", "photos32-conv2", "photos32-conv4"])
def test_shipped_32px_conv_checkpoint_answers_from_its_memory(name: str) -> None:
    """The conv checkpoints but `photos32-conv2` lose to the whitened projection at N = 64 (README, "The paper's
    scale"), but all meet the other rule on held-out scripts and photographs: N = 1 (256 memories of one image)
    reads at most half of N = 64's block MSE (8 memories of 64 images)."""
    engine = Engine.from_checkpoint(CHECKPOINTS / name, "cpu")
    errors, _ = _block_errors(engine, load_images(engine.config.training["settings"]["dataset"], "test"))
    assert errors[1] <= 0.5 * errors[64], errors
