"""`ebmm bench engine`: one row per batch size with positive rates, and the counted read flops."""

from __future__ import annotations

from model.bench.engine import bench_engine, read_flops
from model.config import ModelConfig
from model.engine import Engine
from model.memory import EnergyMemory


def test_bench_rows_and_flops(tiny_config: ModelConfig, tiny_conv_config: ModelConfig) -> None:
    engine = Engine(EnergyMemory(tiny_config), "x")
    # tiny: H = 8, D = 32, G = 32, K = 5 -> one forward = 2·8·32 + 2·32·8 = 1024; 5 steps × 2 + 1 forwards
    assert read_flops(engine) == 11 * 1024
    assert read_flops(Engine(EnergyMemory(tiny_conv_config), "y")) is None
    result = bench_engine(engine, batches=(1, 4), patterns=3, min_seconds=0.01)
    assert [row["batch"] for row in result["rows"]] == [1, 4]
    assert all(row["writes_per_s"] > 0 and row["reads_per_s"] > 0 for row in result["rows"])
    assert result["rows"][0]["read_speedup_vs_batch1"] == 1.0
    assert result["rows"][1]["read_gflop_per_s"] == result["rows"][1]["reads_per_s"] * 11 * 1024 / 1e9
    assert result["mode"] == "eager"
