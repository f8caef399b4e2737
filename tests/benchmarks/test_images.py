"""`ebmm bench images`: every method on the same sets and queries, per distortion, with exact-recall shares."""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

from benchmarks.images import bench_images, images_table
from model.config import ModelConfig
from model.engine import Engine
from model.memory import EnergyMemory


@pytest.fixture
def engines(tiny_conv_config: ModelConfig) -> list[Engine]:
    fc = tiny_conv_config.replace(energy="fc")  # budget 4·64 + 4: four images' worth
    return [Engine(EnergyMemory(fc), "x"), Engine(EnergyMemory(tiny_conv_config), "y")]


def test_bench_reports_every_method(engines: list[Engine]) -> None:
    images = torch.rand(40, 1, 8, 8)
    result, examples = bench_images(engines, images, images, counts=(1, 4), memories=3)
    assert len(result["methods"]) == 8 and result["budget_floats"] == engines[0].info.writable_floats
    for name in ("projection Hopfield", "whitened projection"):
        single = result["methods"][name]
        assert single["mse"]["1"] < 1e-6 and single["exact_fraction"]["1"] == 1.0  # one image fits exactly
    assert result["methods"]["query unchanged"]["mse"]["4"] > 0.05
    assert result["methods"]["query unchanged"]["exact_fraction"]["4"] == 0.0
    assert list(examples)[:2] == ["original", "query"] and examples["query"].shape == (4, 1, 8, 8)
    assert result["distortion"] == "occlude" and "occluded block" in result["protocol"]
    console = Console(width=200, record=True)
    console.print(images_table(result))
    text = console.export_text()
    assert "projection Hopfield" in text and "exact" in text


@pytest.mark.parametrize("distortion", ["occlude-free", "noise", "salt-pepper"])
def test_nothing_known_distortions_are_scored_and_fitted_from_the_whole_query(
    engines: list[Engine], distortion: str
) -> None:
    images = torch.rand(40, 1, 8, 8)
    result, _ = bench_images(engines, images, images, counts=(1, 4), memories=3, distortion=distortion)
    methods = result["methods"]
    unchanged = methods["query unchanged"]["mse"]
    assert methods["modern Hopfield, all N·D floats"]["mse"]["4"] < unchanged["4"]  # the nearest image wins
    assert methods["projection Hopfield"]["mse"]["1"] < unchanged["1"]  # fitted to the whole noisy query
    scored = "the occluded block" if distortion == "occlude-free" else "the whole image"
    assert result["protocol"].startswith(f"MSE on {scored}") and result["distortion"] == distortion


def test_unknown_distortion_is_refused(engines: list[Engine]) -> None:
    with pytest.raises(ValueError, match="unknown image distortion"):
        bench_images(engines, torch.rand(10, 1, 8, 8), torch.rand(10, 1, 8, 8), counts=(1,), distortion="flip")


def test_memory_size_sweep_without_a_checkpoint(tiny_conv_config: ModelConfig, tmp_path) -> None:
    """Baselines alone at several budgets: each budgeted method per budget, a family per line of the plot."""
    from benchmarks.images import memory_size_curves
    from ebmm.image_plots import plot_memory_size

    images = torch.rand(60, 1, 8, 8)
    budgets = (64, 256, 1024)  # 1, 4 and 16 images' worth of floats
    result, examples = bench_images(
        [], images, images, counts=(1, 4, 16), memories=3, budgets=budgets, config=tiny_conv_config
    )
    methods = result["methods"]
    assert result["budgets"] == list(budgets) and "projection Hopfield, 256 floats" in methods
    assert not any(name.startswith("EBMM") for name in methods)
    projection = [methods[f"projection Hopfield, {budget} floats"]["mse"]["16"] for budget in budgets]
    assert projection[0] > projection[1] > projection[2] and projection[2] < 1e-6  # 16 images fit in 16 images' floats
    curves = memory_size_curves(result, 16)
    assert [floats for floats, _ in curves["projection Hopfield"]] == [64.0, 256.0, 1024.0]
    assert curves["modern Hopfield, all N·D floats"] == [
        (16.0 * 64, methods["modern Hopfield, all N·D floats"]["mse"]["16"])
    ]
    assert curves["Gaussian prior"][0][0] == 0.0 and "modern Hopfield, 64 floats" in examples
    plot_memory_size(result, tmp_path / "floats.png", 16, "tiny")
    assert (tmp_path / "floats.png").read_bytes()[:4] == b"\x89PNG"


def test_a_sweep_needs_budgets_or_an_engine(tiny_conv_config: ModelConfig) -> None:
    with pytest.raises(ValueError, match="budgets"):
        bench_images([], torch.rand(10, 1, 8, 8), torch.rand(10, 1, 8, 8), counts=(1,), config=tiny_conv_config)
