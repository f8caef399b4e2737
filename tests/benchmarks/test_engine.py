"""`ebmm bench engine`: one row per batch size with positive rates, counted flops and the fraction of peak; and
`--compare-ref`, alternating runs of this checkout and a git ref."""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path

import pytest
import torch
from rich.console import Console

from benchmarks.engine import bench_engine, counted_flops, engine_table, flops_per_item, matmul_peak_flops
from benchmarks.engine_compare import compare_engine, compare_table
from model.config import ModelConfig
from model.domains import domain_of
from model.engine import Engine
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns
from tests.service.conftest import BINARY


def test_counted_read_flops_match_the_fc_energy_s_products(tiny_config: ModelConfig) -> None:
    engine = Engine(EnergyMemory(tiny_config), "x")
    X = random_binary_patterns(1, 3, tiny_config.input_dim)
    theta = engine.write(X)
    Q, known = domain_of(tiny_config).standard(X[:, :1])
    write_flops, read_flops = flops_per_item(engine, X, theta, Q, known)
    # tiny: H = 8, D = 32, G = 32. One forward W·x, A·h = 2·8·32 + 2·32·8 = 1024 flops; each of the K = 5 steps
    # runs a forward and the hand-written backward (the same products), and the final energy one more forward.
    assert read_flops == (2 * 5 + 1) * 1024
    # A write runs T = 5 steps over N = 3 patterns, each with forward, ∇ₓE and the second-order θ gradient.
    assert write_flops > 5 * 3 * 2 * 1024
    assert counted_flops(lambda: torch.ones(4, 4) + 1) == 0  # element-wise work is not counted


def test_bench_rows_flops_and_peak_fraction(tiny_config: ModelConfig, tiny_conv_config: ModelConfig) -> None:
    engine = Engine(EnergyMemory(tiny_config), "x")
    result = bench_engine(engine, batches=(1, 4), patterns=3, min_seconds=0.01)
    assert [row["batch"] for row in result["rows"]] == [1, 4]
    assert all(row["writes_per_s"] > 0 and row["reads_per_s"] > 0 for row in result["rows"])
    assert result["rows"][0]["read_speedup_vs_batch1"] == 1.0
    assert result["read_flops_per_query"] == 11 * 1024
    row, peak = result["rows"][1], result["matmul_peak_gflop_per_s"]
    assert row["read_gflop_per_s"] == pytest.approx(row["reads_per_s"] * 11 * 1024 / 1e9)
    assert row["read_peak_fraction"] == pytest.approx(row["read_gflop_per_s"] / peak)
    assert 0 < row["write_peak_fraction"] < 1 and result["mode"] == "eager"
    conv = bench_engine(Engine(EnergyMemory(tiny_conv_config), "y"), batches=(2,), patterns=2, min_seconds=0.01)
    assert conv["read_flops_per_query"] > 0 and conv["write_flops_per_memory"] > 0  # conv products are counted too
    console = Console(width=200, record=True)
    console.print(engine_table(result))
    assert "reads vs batch 1" in console.export_text() and result["distortion"] == "erase 8 of 32 entries"


def test_noisy_reads_are_benchmarked_as_untrusted_reads(tiny_config: ModelConfig) -> None:
    untrusted = tiny_config.replace(untrusted_read_rounds=4, distortions=("erase", "flip"))
    plain = bench_engine(Engine(EnergyMemory(tiny_config), "x"), batches=(2,), patterns=3, min_seconds=0.01)
    flips = bench_engine(
        Engine(EnergyMemory(untrusted), "x"), batches=(2,), patterns=3, min_seconds=0.01, distortion="flip"
    )
    assert flips["distortion"] == "flip 16 of 32 entries"
    assert flips["read_flops_per_query"] > 4 * plain["read_flops_per_query"]  # four rounds of erasure reads


def test_matmul_peak_is_a_plausible_rate() -> None:
    assert 1e8 < matmul_peak_flops(torch.device("cpu"), size=256, repeats=2) < 1e14


def test_compare_ref_alternates_this_checkout_and_the_ref(checkpoints: Path) -> None:
    """Both sides run the real `ebmm bench engine` in fresh processes on the same checkpoint; ratios are of medians."""
    args = ["--checkpoint", str(checkpoints / BINARY), "--device", "cpu", "--batches", "1,4", "--seconds", "0.05"]
    result = compare_engine("HEAD", args, ["--write-precision", "float32"], rounds=2)
    assert result["ref_commit"] == subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
    assert [len(result["runs"][side]) for side in ("this", "ref")] == [2, 2]
    assert result["runs"]["this"][0]["write_dtype"] == "float32"
    assert [row["batch"] for row in result["rows"]] == [1, 4]
    for row in result["rows"]:
        this = [run["rows"][[1, 4].index(row["batch"])]["writes_per_s"] for run in result["runs"]["this"]]
        assert row["writes_per_s_this"] == statistics.median(this) > 0
        assert row["writes_ratio"] == pytest.approx(row["writes_per_s_this"] / row["writes_per_s_ref"])
    Console(width=160).print(compare_table(result))


def test_compare_ref_reports_a_ref_that_does_not_exist() -> None:
    with pytest.raises(ValueError, match="no-such-ref"):
        compare_engine("no-such-ref", [])
