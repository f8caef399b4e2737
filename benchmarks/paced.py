"""`ebmm bench paced`: retrieve latency at a fixed offered rate (open loop) and at the maximum (closed loop).

`ebmm bench load` is closed loop: `connections` clients send their next request when the last one is answered,
so it finds the maximum but cannot say what latency users see at, say, 1,000 req/s. Here each cell runs
`processes` generator processes (so the generator is not one GIL), each with `connections` keep-alive httpx
clients. At a rate R > 0 the processes share R: each one's scheduler releases a request every `processes / R`
seconds and a free client sends it; its latency counts from when it was due, so a server (or generator) that
falls behind shows it in p99 instead of silently sending less (no coordinated omission). At R = 0 every
client sends back to back: the maximum. The requests are those of `ebmm bench load`'s retrieve cell (one query,
the model's standard erasure, spread over `memories` stored memories).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import orjson
from rich.table import Table

from benchmarks.load import _check_loopback, _pick_model, _store, draw_workload, started_server
from benchmarks.wrk_driver import Request
from ebmm_client import EBMMClient

REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Plan:
    """One generator process's share of a cell: `rate` its req/s (0: back to back)."""

    url: str
    api_key: str | None
    requests: tuple[Request, ...]
    rate: float
    connections: int
    seconds: float
    seed: int


def drive(plan: Plan) -> dict[str, Any]:
    """Run one generator process's share of a cell: its latencies (ms), non-2xx answers, errors, elapsed s."""
    return asyncio.run(_drive(plan))


async def _drive(plan: Plan) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {plan.api_key}"} if plan.api_key else {}
    rng = np.random.default_rng(plan.seed)
    picks = rng.integers(len(plan.requests), size=1 << 16)
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    due_times: asyncio.Queue[float | None] = asyncio.Queue()
    clients = [
        httpx.AsyncClient(base_url=plan.url, timeout=REQUEST_TIMEOUT_S, headers=headers)
        for _ in range(plan.connections)
    ]
    try:
        for client in clients:  # connect before the clock starts
            await client.get("/healthz")
        start = time.perf_counter()
        stop_at = start + plan.seconds

        async def send(client: httpx.AsyncClient, n: int, due: float) -> None:
            request = plan.requests[int(picks[n % len(picks)])]
            try:
                response = await client.request(
                    request.method, request.path, content=request.body, headers={"content-type": "application/json"}
                )
            except httpx.HTTPError:
                counts["errors"] += 1
                return
            latencies.append(time.perf_counter() - due)
            counts["non_2xx"] += not response.is_success

        async def paced_worker(k: int) -> None:
            n = k
            while (due := await due_times.get()) is not None:
                await send(clients[k], n, due)
                n += plan.connections

        async def closed_worker(k: int) -> None:
            n = k
            while time.perf_counter() < stop_at:
                await send(clients[k], n, time.perf_counter())
                n += plan.connections

        if plan.rate > 0:
            workers = [asyncio.create_task(paced_worker(k)) for k in range(plan.connections)]
            for i in range(int(plan.rate * plan.seconds)):
                due = start + i / plan.rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                due_times.put_nowait(due)
            for _ in workers:
                due_times.put_nowait(None)
            await asyncio.gather(*workers)
        else:
            await asyncio.gather(*(closed_worker(k) for k in range(plan.connections)))
        elapsed = time.perf_counter() - start
    finally:
        for client in clients:
            await client.aclose()
    return {"latencies_ms": [s * 1000.0 for s in latencies], **counts, "elapsed_s": elapsed}


def run_cell(plans: list[Plan]) -> dict[str, Any]:
    """The plans in as many processes at once, their latencies merged: req/s answered, p50/p90/p99/max ms."""
    context = multiprocessing.get_context("spawn")  # no forked event loops or sockets
    with context.Pool(len(plans)) as pool:
        shares = pool.map(drive, plans)
    ms = np.concatenate([np.asarray(s["latencies_ms"], dtype=np.float64) for s in shares] + [np.zeros(0)])
    elapsed = max(s["elapsed_s"] for s in shares)
    p50, p90, p99 = (round(float(np.percentile(ms, q)), 2) if ms.size else None for q in (50, 90, 99))
    return {
        "offered_per_s": round(sum(p.rate for p in plans), 1) or None,
        "processes": len(plans),
        "connections_per_process": plans[0].connections,
        "requests": int(ms.size),
        "per_s": round(ms.size / elapsed, 1),
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "max_ms": round(float(ms.max()), 2) if ms.size else None,
        "non_2xx": sum(s["non_2xx"] for s in shares),
        "errors": sum(s["errors"] for s in shares),
        "seconds": round(elapsed, 3),
    }


def retrieve_requests(url: str, api_key: str | None, model: str | None, memories: int) -> tuple[str, list[Request]]:
    """Store `memories` memories of `ebmm bench load`'s workload in the server: the model and its retrieves."""
    with EBMMClient(url, api_key=api_key, timeout=120) as client:
        info = _pick_model(client.models(), model, url)
    workload = draw_workload(info, memories)
    ids = asyncio.run(_store(url, api_key, workload))
    requests = [
        Request("POST", f"/memories/{ids[m]}/retrieve", orjson.dumps({"queries": [q.tolist()]}))
        for m, q in workload.reads
    ]
    return workload.model, requests


def run_paced_bench(
    url: str | None,
    rates: tuple[float, ...],
    processes: int,
    connections: int,
    seconds: float,
    *,
    model: str | None = None,
    memories: int = 64,
    workers: int = 1,
    warmup_s: float = 2.0,
) -> dict[str, Any]:
    """A cell per rate (0: the maximum) against `url` (key in EBMM_API_KEY) or an `ebmm serve --workers N` of
    this checkout started here, after `warmup_s` of unrecorded maximum load (batches of every size the cells
    will form, e.g. CUDA graphs captured on first use, are then made before the clock starts)."""
    if processes < 1 or connections < 1:
        raise ValueError("processes and connections must be at least 1")
    with ExitStack() as stack:
        if url is None:
            serve_args = ["--workers", str(workers)] if workers > 1 else []
            url, api_key = stack.enter_context(started_server(serve_args=serve_args))
        else:
            url, api_key = _check_loopback(url), os.environ.get("EBMM_API_KEY")
        served, requests = retrieve_requests(url, api_key, model, memories)

        def plans(rate: float, duration: float) -> list[Plan]:
            return [
                Plan(url, api_key, tuple(requests), rate / processes, connections, duration, seed=k)
                for k in range(processes)
            ]

        warmup = run_cell(plans(0, warmup_s)) if warmup_s > 0 else None
        cells = [{"rate": rate, **run_cell(plans(rate, seconds))} for rate in rates]
    return {
        "command": "ebmm " + " ".join(sys.argv[1:]),
        "cpu_count": os.cpu_count(),
        "model": served,
        "memories": memories,
        "workers": workers,
        "warmup": warmup,
        "cells": cells,
        "non_2xx": sum(c["non_2xx"] for c in cells),
    }


def paced_table(result: dict[str, Any]) -> Table:
    """One row per cell: offered and answered req/s, latency percentiles, non-2xx and errors."""
    table = Table(title=f"retrieve on {result['model']}, {result['workers']} worker(s), {result['cpu_count']} CPUs")
    for column in ("offered/s", "answered/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "non-2xx", "errors"):
        table.add_column(column, justify="right")
    for cell in result["cells"]:
        offered = f"{cell['offered_per_s']:g}" if cell["offered_per_s"] else "max"
        row = [cell[k] for k in ("per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "non_2xx", "errors")]
        table.add_row(offered, *("-" if v is None else f"{v:g}" for v in row))
    return table
