"""`ebmm bench engine`: in-process write and read throughput of the Engine versus batch size."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from model.energy import FCEnergy
from model.engine import Engine
from model.tasks import random_binary_patterns, standard_distortion

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


def read_flops(engine: Engine) -> int | None:
    """Counted multiply-adds ×2 of one single-query read of the FC energy (None for other energies).

    Per step: W·x and A·h forward, then dE/dz·A and dE/du·W backward (2·(2HD + 2GH)); the final energy adds
    one forward (2HD + 2GH). Element-wise work is not counted.
    """
    energy = engine.memory.energy
    if not isinstance(energy, FCEnergy):
        return None
    hidden, dim, meta = energy.hidden, energy.dim, energy.A.shape[0]
    forward = 2 * hidden * dim + 2 * meta * hidden
    return engine.config.read_steps * 2 * forward + forward


def bench_engine(
    engine: Engine,
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    patterns: int = 32,
    min_seconds: float = 1.0,
    seed: int = 0,
) -> dict:
    """Writes/s (memories of `patterns` patterns) and reads/s (one query per memory) for each batch size."""
    config = engine.config
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for batch in batches:
        if config.domain == "binary":
            X = random_binary_patterns(batch, patterns, config.input_dim, generator)
        else:
            lo, hi = config.value_range
            X = lo + (hi - lo) * torch.rand(batch, patterns, *config.input_shape, generator=generator)
        X = X.to(engine.device)
        theta = engine.write(X)
        Q, known = standard_distortion(config, X[:, :1].cpu(), generator)
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
    base = rows[0]["reads_per_s"]
    flops = read_flops(engine)
    for row in rows:
        row["read_speedup_vs_batch1"] = row["reads_per_s"] / base
        row["read_gflop_per_s"] = None if flops is None else row["reads_per_s"] * flops / 1e9
    return {
        "model": engine.info.name,
        "mode": engine.mode,
        "read_flops_per_query": flops,
        "device": torch.cuda.get_device_name(engine.device) if engine.device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "patterns_per_write": patterns,
        "queries_per_memory": 1,
        "rows": rows,
    }
