"""`ebmm bench engine`: one row per batch size with positive rates, counted flops and the fraction of peak."""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

from benchmarks.engine import bench_engine, counted_flops, engine_table, flops_per_item, matmul_peak_flops
from model.config import ModelConfig
from model.domains import domain_of
from model.engine import Engine
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns


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
