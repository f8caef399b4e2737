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
    assert len(result["methods"]) == 7 and result["budget_floats"] == engines[0].info.writable_floats
    projection = result["methods"]["projection Hopfield"]
    assert projection["mse"]["1"] < 1e-6 and projection["exact_fraction"]["1"] == 1.0  # one image fits exactly
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
