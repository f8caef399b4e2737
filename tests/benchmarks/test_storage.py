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
