"""`ebmm bench load`: a bounded httpx load generator against the service on loopback.

For each server (by default two it starts itself: batching on, and off with EBMM_MAX_BATCH=1) and each
concurrency level it runs three cells for `duration` seconds each: GET /healthz (the HTTP stack's ceiling),
POST /memories (N = 32 random patterns) and POST /memories/{id}/retrieve (one query with the model's standard
erasure, over 64 pre-written memories). Request bodies are encoded before the clock starts and responses
are only status-checked, so the generator spends little of the (shared) CPU. A server started here gets a fresh
API key; a given one is called with the key in EBMM_API_KEY.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
from rich.table import Table

from ebmm_client import AsyncEBMMClient
from service.auth import key_digest
from service.serve_process import ServeProcess

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_REQUESTS_PER_CELL = 200_000
MEMORIES = 64
JSON = {"content-type": "application/json"}


@contextmanager
def _server(extra_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """`ebmm serve` in a subprocess on a free loopback port with its own embedded Redis; yields its URL and key."""
    api_key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="ebmm-load-") as data_dir:
        settings = {"EBMM_DATA_DIR": data_dir, "EBMM_API_KEYS": f"{key_digest(api_key)}:bench", **extra_env}
        with ServeProcess(settings, inherit_settings=True) as server:
            yield server.url, api_key


async def _cell(
    clients: list[httpx.AsyncClient],
    requests: list[tuple[str, bytes | None]],
    concurrency: int,
    seconds: float,
):
    """Run `concurrency` workers cycling through pre-encoded requests for `seconds`: throughput and latency.

    Each worker has its own client and keep-alive connection, made before the clock starts: one httpx pool
    shared by 64 workers spends more CPU than the server does (measured: 68 vs 314 /healthz req/s at 64
    workers on 2 cores), and making 64 clients (an SSL context each) inside the cell stalls it for seconds.
    """
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        i = offset
        http = clients[offset]
        while time.monotonic() < stop_at and len(latencies) + errors < MAX_REQUESTS_PER_CELL:
            path, body = requests[i % len(requests)]
            i += concurrency
            start = time.perf_counter()
            try:
                if body is None:
                    response = await http.get(path)
                else:
                    response = await http.post(path, content=body, headers=JSON)
                ok = response.is_success
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.monotonic() - start
    ms = np.asarray(latencies) * 1000.0 if latencies else np.zeros(1)
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


async def bench_server(
    url: str, levels: tuple[int, ...], seconds: float, model: str | None, api_key: str | None
) -> dict[str, Any]:
    """All cells against one server."""
    limits = httpx.Limits(max_connections=max(levels) + 4, max_keepalive_connections=max(levels) + 4)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None

    def make_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=headers)

    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(make_client())
        workers = [await stack.enter_async_context(make_client()) for _ in range(max(levels))]
        client = AsyncEBMMClient(url, http=http)
        served = await client.models()
        binary = [m for m in served if m.domain == "binary"]
        info = next((m for m in served if m.name == model), None) if model else (binary or served or [None])[0]
        if info is None:
            raise ValueError(f"model {model!r} is not served at {url}")
        rng = np.random.default_rng(0)
        count = min(32, info.max_patterns)

        def patterns() -> np.ndarray:
            if info.domain == "binary":
                return (rng.integers(0, 2, (count, info.input_dim)) * 2 - 1).astype(np.float32)
            lo, hi = info.value_range
            return rng.uniform(lo, hi, (count, info.input_dim)).astype(np.float32)

        stored = [patterns() for _ in range(MEMORIES)]
        memories = await asyncio.gather(*(client.write(info.name, X) for X in stored))
        writes = [("/memories", orjson.dumps({"model": info.name, "patterns": patterns().tolist()})) for _ in range(64)]
        reads = []
        for _ in range(256):
            m = int(rng.integers(MEMORIES))
            query = stored[m][rng.integers(count)].copy()
            if info.domain == "binary":
                query[rng.choice(info.input_dim, info.distortion_size, replace=False)] = 0.0
            reads.append((f"/memories/{memories[m].id}/retrieve", orjson.dumps({"queries": [query.tolist()]})))
        rows = []
        for concurrency in levels:
            for op, requests in (("healthz", [("/healthz", None)]), ("write", writes), ("retrieve", reads)):
                cell = await _cell(workers, requests, concurrency, seconds)
                rows.append({"op": op, "concurrency": concurrency, **cell})
    return {"url": url, "model": info.name, "patterns_per_write": count, "rows": rows}


def run_load_bench(url: str | None, levels: tuple[int, ...], seconds: float, model: str | None) -> dict[str, Any]:
    """Bench `url`, or two servers started here (batching on, and off with EBMM_MAX_BATCH=1)."""
    servers: list[dict[str, Any]] = []
    if url is not None:
        if urlsplit(url).hostname not in LOOPBACK:
            raise ValueError(f"the load benchmark only targets loopback servers, not {url}")
        api_key = os.environ.get("EBMM_API_KEY")
        servers.append({"mode": "given server", **asyncio.run(bench_server(url, levels, seconds, model, api_key))})
    else:
        for mode, env in (("batching on", {}), ("batching off", {"EBMM_MAX_BATCH": "1"})):
            with _server(env) as (started, api_key):
                result = asyncio.run(bench_server(started, levels, seconds, model, api_key))
                servers.append({"mode": mode, **result})
    return {
        "command": "ebmm " + " ".join(sys.argv[1:]),
        "cpu_count": os.cpu_count(),
        "duration_s": seconds,
        "servers": servers,
        "summary": _summary(servers),
    }


def _summary(servers: list[dict[str, Any]]) -> dict[str, float]:
    """Retrieve throughput with batching over without, and over the /healthz ceiling, per concurrency."""
    rate = {(s["mode"], r["op"], r["concurrency"]): r["per_s"] for s in servers for r in s["rows"]}
    out = {}
    for (mode, op, concurrency), per_s in rate.items():
        if op != "retrieve" or mode == "batching off":
            continue
        healthz = rate.get((mode, "healthz", concurrency))
        if healthz:
            out[f"retrieve_vs_healthz_c{concurrency}"] = round(per_s / healthz, 3)
        unbatched = rate.get(("batching off", "retrieve", concurrency))
        if unbatched:
            out[f"retrieve_batching_speedup_c{concurrency}"] = round(per_s / unbatched, 2)
    return out


def load_table(result: dict[str, Any]) -> Table:
    table = Table(title=f"HTTP load, {result['duration_s']:g} s per cell, {result['cpu_count']} CPUs")
    for column in ("server", "op", "clients", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for server in result["servers"]:
        for r in server["rows"]:
            table.add_row(
                server["mode"],
                r["op"],
                str(r["concurrency"]),
                f"{r['per_s']:,.0f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                str(r["errors"]),
            )
    return table
