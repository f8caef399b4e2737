"""`ebmm train / eval / bench images` on an image preset, end to end at toy size."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from ebmm.cli import app
from model.checkpoint import read_config


def test_train_eval_and_bench_an_image_model(tmp_path: Path) -> None:
    runner = CliRunner()
    checkpoint = tmp_path / "digits"
    options = ["--preset", "digits", "--steps", "2", "--batch", "2", "--max-patterns", "4", "--meta-hidden", "16"]
    train = runner.invoke(app, ["train", *options, "--eval-every", "1000", "--device", "cpu", "--out", str(checkpoint)])
    assert train.exit_code == 0, train.output
    config = read_config(checkpoint)
    assert config.name == "digits" and config.training["settings"]["dataset"] == "digits"

    evaluation = runner.invoke(app, ["eval", "--checkpoint", str(checkpoint), "--patterns", "4", "--memories", "4"])
    assert evaluation.exit_code == 0, evaluation.output
    assert "on digits" in evaluation.output and "MSE per pixel" in evaluation.output

    json_path, plot = tmp_path / "images.json", tmp_path / "images.png"
    options = ["--dataset", "digits", "--counts", "1,4", "--memories", "3", "--checkpoint", str(checkpoint)]
    bench = runner.invoke(app, ["bench", "images", *options, "--json", str(json_path), "--plot", str(plot)])
    assert bench.exit_code == 0, bench.output
    result = orjson.loads(json_path.read_bytes())
    assert result["dataset"] == "digits" and result["counts"] == [1, 4]
    assert set(result["methods"]["EBMM fc (digits)"]["mse"]) == {"1", "4"}
    for png in (plot, tmp_path / "images-examples.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_refuses_an_unknown_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "x"), "--stepz", "5"])
    assert result.exit_code != 0 and "no such option or model config field: --stepz" in result.output
