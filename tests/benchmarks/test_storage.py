"""The storage benchmark measures every served model on a real redis-server, through the service's store."""

from __future__ import annotations

from pathlib import Path

from benchmarks.storage import GB, bench_storage, storage_table


def test_bytes_per_memory_are_measured_for_every_model(checkpoints: Path) -> None:
    result = bench_storage(checkpoints, 20)
    rows = {r["model"]: r for r in result["rows"]}
    assert set(rows) == {"tiny", "tiny-conv"}
    for row in rows.values():
        assert row["theta_bytes"] == 4 * row["theta_floats"]
        assert row["theta_bytes"] < row["bytes_per_memory"] < row["theta_bytes"] + 16_384  # θ plus records
        assert row["memories_per_gb"] == GB // row["bytes_per_memory"]
    assert result["theta_dtype"] == "float32" and storage_table(result).row_count == 2


def test_16_bit_theta_takes_half_the_theta_bytes(checkpoints: Path) -> None:
    full, half = (bench_storage(checkpoints, 20, theta_dtype=dtype) for dtype in ("float32", "float16"))
    assert half["theta_dtype"] == "float16"
    for wide, narrow in zip(full["rows"], half["rows"], strict=True):
        assert narrow["theta_bytes"] == wide["theta_bytes"] // 2
        assert narrow["bytes_per_memory"] < wide["bytes_per_memory"]  # what a memory costs in Redis shrinks too
