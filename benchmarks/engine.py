"""`ebmm bench engine`: in-process write and read throughput of the Engine versus batch size."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from rich.table import Table
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from model.engine import Engine

DEFAULT_BATCHES = (1, 8, 64, 512)


def _rate(run: Callable[[], object], items: int, device: torch.device, min_seconds: float) -> float:
    """Items per second of `run`, timed over repeats lasting at least `min_seconds` after one warm-up."""
    run()
    repeats, elapsed = 0, 0.0
    while elapsed < min_seconds:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed += time.perf_counter() - start
        repeats += 1
    return items * repeats / elapsed


def counted_flops(run: Callable[[], object]) -> int:
    """Floating-point operations of the matrix products (matmul, bmm, linear, conv) one call of `run` performs,
    its autograd passes included, as counted by torch's FlopCounterMode; element-wise work is not counted."""
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def flops_per_item(engine: Engine, X: Tensor, theta: Tensor, Q: Tensor, known: Tensor) -> tuple[int, int]:
    """Counted flops of writing one memory (X: [1, N, *S]) and of one read (θ: [1, P], Q/known: [1, 1, *S]).

    Counted on the eager path: a replayed CUDA graph runs the same kernels but hides them from the counter.
    """
    memory = engine.memory
    with torch.no_grad():
        return counted_flops(lambda: memory.write(X)), counted_flops(lambda: memory.read(theta, Q, known))


def matmul_peak_flops(device: torch.device, size: int | None = None, repeats: int = 5) -> float:
    """The device's measured dense fp32 matmul rate (FLOP/s): the best of `repeats` size³ products.

    This is the reference for "fraction of peak": what this torch build reaches on this device, not a datasheet.
    """
    size = size or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeats + 1):  # the first is a warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def bench_engine(
    engine: Engine,
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    patterns: int = 32,
    min_seconds: float = 1.0,
    seed: int = 0,
    distortion: str | None = None,
) -> dict:
    """Writes/s (memories of `patterns` patterns) and reads/s (one query per memory, corrupted by `distortion`,
    default the model's standard one) for each batch size."""
    family = engine.domain.families[distortion] if distortion else engine.domain.standard
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for batch in batches:
        X = engine.domain.random_patterns(batch, patterns, generator).to(engine.device)
        theta = engine.write(X)
        Q, known = family(X[:, :1].cpu(), generator)
        Q, known = Q.to(engine.device), known.to(engine.device)
        rows.append(
            {
                "batch": batch,
                "writes_per_s": _rate(lambda X=X: engine.write(X), batch, engine.device, min_seconds),
                "reads_per_s": _rate(
                    lambda t=theta, q=Q, k=known: engine.read(t, q, k), batch, engine.device, min_seconds
                ),
            }
        )
    write_flops, read_flops = flops_per_item(engine, X[:1], theta[:1], Q[:1], known[:1])
    peak = matmul_peak_flops(engine.device)
    base = rows[0]["reads_per_s"]
    for row in rows:
        row["read_speedup_vs_batch1"] = row["reads_per_s"] / base
        row["write_gflop_per_s"] = row["writes_per_s"] * write_flops / 1e9
        row["read_gflop_per_s"] = row["reads_per_s"] * read_flops / 1e9
        row["write_peak_fraction"] = row["writes_per_s"] * write_flops / peak
        row["read_peak_fraction"] = row["reads_per_s"] * read_flops / peak
    return {
        "model": engine.info.name,
        "mode": engine.mode,
        "write_dtype": engine.write_dtype_name,
        "write_flops_per_memory": write_flops,
        "read_flops_per_query": read_flops,
        "matmul_peak_gflop_per_s": peak / 1e9,
        "device": torch.cuda.get_device_name(engine.device) if engine.device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "patterns_per_write": patterns,
        "queries_per_memory": 1,
        "distortion": family.description,
        "rows": rows,
    }


def engine_table(result: dict) -> Table:
    """The throughput table of a bench_engine result."""
    table = Table(
        title=f"engine throughput: {result['model']} on {result['device']}, {result['mode']}, "
        f"{result['write_dtype']} write products, reads: "
        f"{result['distortion']} "
        f"({result['torch_threads']} threads; matmul peak {result['matmul_peak_gflop_per_s']:,.0f} GFLOP/s)"
    )
    columns = ("batch", "writes/s", "reads/s", "reads vs batch 1", "write GFLOP/s", "read GFLOP/s", "% of peak w/r")
    for column in columns:
        table.add_column(column, justify="right")
    for row in result["rows"]:
        table.add_row(
            str(row["batch"]),
            f"{row['writes_per_s']:,.0f}",
            f"{row['reads_per_s']:,.0f}",
            f"{row['read_speedup_vs_batch1']:.1f}×",
            f"{row['write_gflop_per_s']:,.2f}",
            f"{row['read_gflop_per_s']:,.2f}",
            f"{100 * row['write_peak_fraction']:.1f} / {100 * row['read_peak_fraction']:.1f}",
        )
    return table
