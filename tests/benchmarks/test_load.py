"""The load benchmark drives a real server briefly and reports every cell; it refuses non-loopback targets."""

from __future__ import annotations

import pytest

from benchmarks.load import bench_server, run_load_bench
from tests.service.conftest import KEYS, TENANT


async def test_bench_server_reports_each_cell(server) -> None:
    result = await bench_server(server.url, (1, 4), 0.2, "tiny", KEYS[TENANT])
    assert result["model"] == "tiny" and result["patterns_per_write"] == 32
    cells = {(r["op"], r["concurrency"]): r for r in result["rows"]}
    assert set(cells) == {(op, c) for op in ("healthz", "write", "retrieve") for c in (1, 4)}
    for row in cells.values():
        assert row["requests"] > 0 and row["errors"] == 0
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["per_s"] == pytest.approx(row["requests"] / row["seconds"], rel=0.01)


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match="loopback"):
        run_load_bench("http://example.com:8000", (1,), 0.1, None)
